// One handler per packet type; a packet a client must not send closes the connection.
import type { Packet } from 'mqtt-packet'
import { ProtocolError, type Connection } from '../connection.js'
import type { HandlerDone } from '../inbox.js'
import { handleAuth } from './auth.js'
import { handleConnect } from './connect.js'
import { handleDisconnect } from './disconnect.js'
import { handlePingreq } from './pingreq.js'
import { handlePuback } from './puback.js'
import { handlePubcomp } from './pubcomp.js'
import { handlePublish } from './publish.js'
import { handlePubrec } from './pubrec.js'
import { handlePubrel } from './pubrel.js'
import { handleSubscribe } from './subscribe.js'
import { handleUnsubscribe } from './unsubscribe.js'

type Handler = (conn: Connection, packet: any, done: HandlerDone) => void

const handlers: Partial<Record<Packet['cmd'], Handler>> = {
  publish: handlePublish,
  puback: handlePuback,
  pubrec: handlePubrec,
  pubrel: handlePubrel,
  pubcomp: handlePubcomp,
  subscribe: handleSubscribe,
  unsubscribe: handleUnsubscribe,
  pingreq: handlePingreq,
  disconnect: handleDisconnect,
  auth: handleAuth
}

export function handlePacket (conn: Connection, packet: Packet, done: HandlerDone): void {
  if (packet.cmd === 'connect') return handleConnect(conn, packet, done)
  // MQTT-3.1.0-1: the first packet is CONNECT; nothing is handled before CONNACK but the
  // AUTH packets of an MQTT 5 authentication exchange.
  if (packet.cmd === 'auth' && conn.connecting) return handleAuth(conn, packet, done)
  if (!conn.connected) return done(new ProtocolError(`${packet.cmd.toUpperCase()} before CONNECT was accepted`))
  const handler = handlers[packet.cmd]
  if (handler === undefined) return done(new ProtocolError(`a client may not send ${packet.cmd.toUpperCase()}`))
  handler(conn, packet, done)
}
