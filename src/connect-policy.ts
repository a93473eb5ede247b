// Core CONNECT checks that Aedes does not make, run as the first authenticate step so
// that the client gets the right CONNACK return code:
//  - a client id longer than --max-client-id-length: 0x02 (Aedes checks MQTT 3.1 only); the
//    id the broker generates for an empty one is not checked;
//  - a zero-byte client id with clean session 0: 0x02 (MQTT-3.1.3-8; Aedes accepts it);
//  - --max-connections reached: 0x03 (server unavailable; MQTT 5: 0x97 quota exceeded).
import type { AuthenticateError, Client, ConnectPacket } from 'aedes'
import { connectionInfo } from './connection.js'
import type { AuthenticateHandler, PreConnectHandler } from './hooks.js'

export interface ConnectPolicyOptions {
  maxClientIdLength: number
  maxConnections: number
  connectedClients: () => number
}

/**
 * A CONNECT refusal for an authenticate handler: `returnCode` is what an MQTT 3.1.1 client
 * gets; an MQTT 5 client gets `reasonCode` when given (e.g. 0x8A banned, which 3.1.1 cannot
 * say), else the reason code matching the return code.
 */
export function refusal (message: string, returnCode: 2 | 3 | 4 | 5, reasonCode?: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }, reasonCode === undefined ? {} : { reasonCode }) as AuthenticateError
}

export function createConnectPolicy (opts: ConnectPolicyOptions): { preConnect: PreConnectHandler, authenticate: AuthenticateHandler } {
  // Aedes replaces an empty client id with a generated one before authenticate runs.
  const emptyId = new WeakSet<Client>()
  return {
    preConnect (client: Client, packet: ConnectPacket, done) {
      if (!packet.clientId) emptyId.add(client)
      done(null, true)
    },
    authenticate (client, username, _password, done) {
      connectionInfo(client).username = username
      // MQTT 5 allows it: the broker assigns the id whatever Clean Start says (MQTT-3.1.3-6 of 5.0).
      if (emptyId.has(client) && !client.clean && client.version < 5) {
        return done(refusal('empty client id requires clean session (MQTT-3.1.3-8)', 2), false)
      }
      // The limit is on ids clients send: a generated id (an empty one was sent) always fits.
      if (!emptyId.has(client) && client.id.length > opts.maxClientIdLength) {
        return done(refusal(`client id longer than ${opts.maxClientIdLength} characters (--max-client-id-length)`, 2), false)
      }
      if (opts.connectedClients() >= opts.maxConnections) {
        // MQTT 5: 0x97 quota exceeded (an administrative limit), 3.1.1: server unavailable.
        return done(refusal(`connection limit ${opts.maxConnections} reached (--max-connections)`, 3, 0x97), false)
      }
      done(null, true)
    }
  }
}
