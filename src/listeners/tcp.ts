// MQTT over TCP.
import { createServer, type Socket } from 'node:net'
import type { ConnectionHandler } from '../connection.js'
import { bind, closeServer, urlHost, type Listener } from './listen.js'

export async function listenTcp (host: string, port: number, onConnection: ConnectionHandler): Promise<Listener> {
  const sockets = new Set<Socket>()
  const server = createServer({ noDelay: true }, socket => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    onConnection(socket, socket, undefined, 'tcp')
  })
  const bound = await bind(server, host, port, '--mqtt-port')
  return {
    name: 'mqtt',
    url: `mqtt://${urlHost(host)}:${bound}`,
    host,
    port: bound,
    close: () => closeServer(server)
  }
}
