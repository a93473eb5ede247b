// AUTH (MQTT 5 extended authentication, section 4.12): the client's next step of an exchange
// (reason 0x18, while a CONNECT or a re-authentication waits), or a re-authentication
// (0x19, connected, with the method the CONNECT named). Anything else is a protocol error.
import type { IAuthPacket } from 'mqtt-packet'
import { ProtocolError, type Connection } from '../connection.js'
import { beginExchange, stepExchange, writeAuth } from '../extended-auth.js'
import type { HandlerDone } from '../inbox.js'
import { ReasonCode } from '../reason-codes.js'

export function handleAuth (conn: Connection, packet: IAuthPacket, done: HandlerDone): void {
  const misuse = misuseOf(conn, packet)
  if (misuse !== null) return done(new ProtocolError(misuse))
  const data = packet.properties?.authenticationData
  if (packet.reasonCode === ReasonCode.continueAuthentication) return stepExchange(conn, data, done)
  beginExchange(conn, conn.username, true, (outcome, finished) => {
    if (outcome.outcome === 'failure') return finished(new ProtocolError(`re-authentication failed: ${outcome.reason}`, ReasonCode.notAuthorized))
    writeAuth(conn, ReasonCode.success, outcome.data)
    finished()
  })
  stepExchange(conn, data, done)
}

function misuseOf (conn: Connection, packet: IAuthPacket): string | null {
  if (conn.authMethod === null) return 'AUTH without an Authentication Method in CONNECT (MQTT-4.12.0-4 of 5.0)'
  if (packet.properties?.authenticationMethod !== conn.authMethod) return `AUTH with another Authentication Method than CONNECT's ${conn.authMethod} (MQTT-4.12.0-5)`
  if (packet.reasonCode === ReasonCode.continueAuthentication) {
    return conn.authExchange === null ? 'AUTH 0x18 while no authentication exchange is in progress' : null
  }
  if (packet.reasonCode === ReasonCode.reauthenticate) {
    if (!conn.connected) return 'AUTH 0x19 (re-authenticate) before CONNACK (MQTT-4.12.1-1)'
    return conn.authExchange !== null ? 'AUTH 0x19 during an authentication exchange' : null
  }
  return `a client may not send AUTH with reason code 0x${packet.reasonCode.toString(16)}`
}
