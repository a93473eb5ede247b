// PUBREL from a client: the QoS 2 PUBLISH with this packet id (delivered when it arrived)
// is released; its id may be used again. Answered with PUBCOMP (MQTT 5: 0x92 if the id is
// unknown).
import type { IPubrelPacket } from 'mqtt-packet'
import type { Connection } from '../connection.js'
import { isNoSuchPacket } from '../../aedes-seam.js'
import { ReasonCode } from '../reason-codes.js'

export function handlePubrel (conn: Connection, packet: IPubrelPacket, done: (err?: Error | null) => void): void {
  const messageId = packet.messageId as number
  const answer = (known: boolean): void => {
    if (known && conn.unacknowledgedIn > 0) conn.unacknowledgedIn--
    conn.writePacket(known || conn.version !== 5
      ? { cmd: 'pubcomp', messageId }
      : { cmd: 'pubcomp', messageId, reasonCode: ReasonCode.packetIdentifierNotFound })
    done()
  }
  if (conn.clean) return answer(conn.incomingQoS2?.delete(messageId) === true)
  // Looked up first: the embedded and Redis storage delete an unknown id without an error.
  // A failed lookup is not an unknown id: the connection closes and the client sends the
  // PUBREL again when it reconnects (MQTT-4.4.0-1).
  const { persistence } = conn
  persistence.incomingGetPacket(conn, { messageId }).then(
    () => persistence.incomingDelPacket(conn, { messageId }).then(() => answer(true), done),
    err => isNoSuchPacket(err) ? answer(false) : done(err))
}
