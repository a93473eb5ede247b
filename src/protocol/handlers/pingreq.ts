// PINGREQ -> PINGRESP (the keep alive clock was reset when the packet was read).
import type { Connection } from '../connection.js'

export function handlePingreq (conn: Connection, _packet: unknown, done: () => void): void {
  conn.writePacket({ cmd: 'pingresp' })
  done()
}
