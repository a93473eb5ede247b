// PUBACK from a client: a QoS 1 delivery ends; the next queued message may go out.
// An unknown packet id is ignored (a late or repeated acknowledgement).
import type { IPubackPacket } from 'mqtt-packet'
import type { Connection } from '../connection.js'

export function handlePuback (conn: Connection, packet: IPubackPacket, done: () => void): void {
  conn.outbound.complete(packet.messageId as number, 1)
  done()
}
