// UNSUBSCRIBE -> UNSUBACK: each filter stops routing to this connection and, for a
// persistent session, is deleted from storage (one batch) before the UNSUBACK. MQTT 5 says
// per filter whether there was such a subscription (0x00 / 0x11).
import type { IUnsubscribePacket } from 'mqtt-packet'
import type { Connection } from '../connection.js'
import { ReasonCode } from '../reason-codes.js'
import { unrouteFrom } from '../session.js'

export function handleUnsubscribe (conn: Connection, packet: IUnsubscribePacket, done: (err?: Error | null) => void): void {
  const existed = packet.unsubscriptions.map(filter => filter in conn.subscriptions)
  const removed = packet.unsubscriptions.filter((_, i) => existed[i])
  for (const filter of removed) {
    conn.deleteSubscription(filter)
    unrouteFrom(conn, filter)
  }
  const stored = !conn.clean && removed.length > 0 ? conn.persistence.removeSubscriptions(conn, removed) : Promise.resolve()
  stored.then(() => {
    conn.core.broker.emit('unsubscribe', removed, conn.asClient)
    conn.writePacket(conn.version === 5
      ? { cmd: 'unsuback', messageId: packet.messageId, granted: existed.map(e => e ? ReasonCode.success : ReasonCode.noSubscriptionExisted) }
      : { cmd: 'unsuback', messageId: packet.messageId })
    done()
  }, done)
}

