// DISCONNECT from a client: a normal end, so the will is not published (MQTT-3.14.4-3),
// unless an MQTT 5 client says 0x04 (Disconnect with Will Message). MQTT 5 may change the
// Session Expiry Interval here, but not from 0 to more (MQTT-3.14.2-2); --max-session-expiry
// caps it as it caps CONNECT's.
import type { IDisconnectPacket } from 'mqtt-packet'
import { ProtocolError, type Connection } from '../connection.js'
import { ReasonCode } from '../reason-codes.js'

export function handleDisconnect (conn: Connection, packet: IDisconnectPacket, done: (err?: Error | null) => void): void {
  const expiry = packet.properties?.sessionExpiryInterval
  if (expiry !== undefined) {
    if (conn.sessionExpiry === 0 && expiry > 0) return done(new ProtocolError('DISCONNECT sets a Session Expiry Interval on a session that had none (MQTT-3.14.2-2)'))
    conn.sessionExpiry = Math.min(expiry, conn.core.limits.maxSessionExpiry)
  }
  conn.disconnected = packet.reasonCode !== ReasonCode.disconnectWithWill
  conn.close()
  done()
}
