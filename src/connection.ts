// What happens to every new connection, whatever the transport: its traffic is counted and
// a protocol-core Connection (src/protocol/connection.ts) speaks MQTT 3.1, 3.1.1 or 5.0 on it.
// connectionInfo() is what plugins and logs know of a client beyond its id.
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Client } from 'aedes'
import type { Traffic } from './traffic.js'
import { Connection, type Transport } from './protocol/connection.js'
import type { Core } from './protocol/core.js'

export type { Transport }
export type ConnectionHandler = (stream: Duplex, socket: Socket, req: IncomingMessage | undefined, transport: Transport) => void

export interface ConnectionInfo {
  transport: Transport
  remoteAddress: string
  /** Set once the client has sent CONNECT. */
  username?: string
}

/** Clients that are not a protocol-core Connection (none in the broker; a plugin's own test double). */
const others = new WeakMap<Client, ConnectionInfo>()

/** The Connection behind a client knows it (its username is set at CONNECT, and by plugins). */
export function connectionInfo (client: Client): ConnectionInfo {
  if (client instanceof Connection) return client
  let found = others.get(client)
  if (!found) {
    found = { transport: 'tcp', remoteAddress: 'unknown' }
    others.set(client, found)
  }
  return found
}

export function createConnectionHandler (core: Core, traffic: Traffic): ConnectionHandler {
  return function onConnection (stream, socket, req, transport) {
    traffic.track(socket)
    // The Connection registers itself with the broker at CONNACK; its socket holds it until then.
    new Connection(core, stream, req, transport, socket.remoteAddress ?? 'unknown')
  }
}
