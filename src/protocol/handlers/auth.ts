// AUTH (MQTT 5 extended authentication). No authentication method is implemented yet: a
// CONNECT naming one is refused with 0x8C (handlers/connect.ts), so an AUTH packet is
// always out of place: protocol error (MQTT 5 section 4.12).
import { ProtocolError, type Connection } from '../connection.js'

export function handleAuth (_conn: Connection, _packet: unknown, done: (err?: Error | null) => void): void {
  done(new ProtocolError('AUTH without an authentication method in CONNECT (MQTT 5 section 4.12)'))
}
