// PUBCOMP from a client: a QoS 2 delivery ends; the next queued message may go out.
import type { IPubcompPacket } from 'mqtt-packet'
import type { Connection } from '../connection.js'

export function handlePubcomp (conn: Connection, packet: IPubcompPacket, done: () => void): void {
  conn.outbound.complete(packet.messageId as number, 2)
  done()
}
