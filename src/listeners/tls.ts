// MQTT over TLS.
import { createServer, type TLSSocket, type TlsOptions } from 'node:tls'
import type { ConnectionHandler } from '../connection.js'
import type { Logger } from '../logger.js'
import type { SecureServer } from '../tls-files.js'
import { bind, closeServer, urlHost, type Listener } from './listen.js'

export async function listenTls (host: string, port: number, tls: TlsOptions, onConnection: ConnectionHandler, log: Logger): Promise<Listener & { server: SecureServer }> {
  const server = createServer(tls, (socket: TLSSocket) => onConnection(socket, socket, undefined, 'tls'))
  // A failed handshake (no client certificate, wrong CA, plain MQTT on the TLS port) concerns that socket only.
  server.on('tlsClientError', (err, socket) => {
    log.info({ remote: socket.remoteAddress, error: err.message }, 'TLS handshake failed')
  })
  const bound = await bind(server, host, port, '--mqtts-port')
  return {
    name: 'mqtts',
    url: `mqtts://${urlHost(host)}:${bound}`,
    host,
    port: bound,
    server,
    close: () => closeServer(server)
  }
}
