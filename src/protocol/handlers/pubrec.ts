// PUBREC from a client: a QoS 2 delivery was received; answer with PUBREL (stored first for
// a persistent session, so a restart resends the PUBREL, not the message). An MQTT 5 PUBREC
// with a refusal code (>= 0x80) ends the exchange. An unknown packet id gets PUBREL 0x92 on
// MQTT 5, a plain PUBREL on 3.1.1 (its PUBCOMP is then ignored).
import type { IPubrecPacket } from 'mqtt-packet'
import type { Connection } from '../connection.js'
import type { HandlerDone } from '../inbox.js'
import { ReasonCode } from '../reason-codes.js'

export function handlePubrec (conn: Connection, packet: IPubrecPacket, done: HandlerDone): void {
  const messageId = packet.messageId as number
  if (conn.version === 5 && (packet.reasonCode ?? 0) >= 0x80) {
    conn.outbound.settle(messageId)
    return done()
  }
  const answer = (known: boolean): void => done(null, known || conn.version !== 5
    ? { cmd: 'pubrel', messageId }
    : { cmd: 'pubrel', messageId, reasonCode: ReasonCode.packetIdentifierNotFound })
  const released = conn.outbound.release(messageId)
  if (typeof released === 'boolean') return answer(released)
  released.then(answer, done)
}
