// SUBSCRIBE -> SUBACK, as a list of steps:
//   validate each filter -> authorize each (hooks: ACL) -> --max-subscriptions-per-client ->
//   store the granted ones in one batch (persistent sessions) -> route them to this
//   connection (a shared one: join its group, shared-groups.ts) -> SUBACK -> retained
//   messages (MQTT 5 Retain Handling decides which; none for a shared subscription).
// A refused filter gets its code in the SUBACK and the others go on (MQTT-3.9.3-1). An
// invalid filter closes an MQTT 3.1.1 connection (its SUBACK has no code for it) and gets
// 0x8F on MQTT 5.
import type { ISubscribePacket, ISubscription } from 'mqtt-packet'
import { ProtocolError, type Connection } from '../connection.js'
import { closeRetainedWindow, deliverRetained, openRetainedWindow } from '../deliver.js'
import { ReasonCode, subackCode } from '../reason-codes.js'
import { routeTo } from '../session.js'
import { SHARED_MARKER } from '../../session-marker.js'
import { parseShared } from '../shared-members.js'
import { isSharedFilter, validTopicFilter } from '../topic-rules.js'
import type { RoutedPacket, Subscription } from '../types.js'

type Done = (err?: Error | null) => void

interface Decision { sub: Subscription, reason: number, isNew: boolean }

export function handleSubscribe (conn: Connection, packet: ISubscribePacket, done: Done): void {
  if (packet.subscriptions.some(s => s.nl === true && isSharedFilter(s.topic))) return done(new ProtocolError('No Local on a shared subscription (MQTT-3.8.3-4)'))
  if (conn.version !== 5) {
    const invalid = packet.subscriptions.find(s => !validTopicFilter(s.topic))
    if (invalid !== undefined) return done(new ProtocolError(`invalid topic filter in SUBSCRIBE: ${JSON.stringify(invalid.topic.slice(0, 100))} (MQTT-4.7.1-2)`))
  }
  const identifier = packet.properties?.subscriptionIdentifier
  openRetainedWindow(conn)
  Promise.all(packet.subscriptions.map(requested => decide(conn, requested, identifier)))
    .then(async decisions => {
      applySubscriptionLimit(conn, decisions)
      const granted = decisions.filter(d => d.reason < 0x80)
      if (!conn.clean && granted.length > 0) {
        const stored = granted.map(d => d.sub)
        // A persistent member of a shared group: the marker lets a restarted broker find the group.
        if (stored.some(sub => isSharedFilter(sub.topic))) stored.push(SHARED_MARKER)
        await conn.persistence.addSubscriptions(conn, stored)
      }
      await Promise.all(granted.map(async d => {
        const known = d.sub.topic in conn.subscriptions
        conn.setSubscription(d.sub)
        // A shared group keeps each member's subscription: joining again updates it.
        if (!known || isSharedFilter(d.sub.topic)) await routeTo(conn, d.sub)
      }))
      if (conn.closed) {
        closeRetainedWindow(conn)
        return done()
      }
      conn.writePacket(conn.version === 5
        ? { cmd: 'suback', messageId: packet.messageId, granted: decisions.map(d => d.reason) }
        : { cmd: 'suback', messageId: packet.messageId, granted: decisions.map(d => subackCode(d.reason, conn.version)) })
      done()
      sendRetained(conn, granted)
    })
    .catch(err => {
      closeRetainedWindow(conn)
      done(err)
    })
}

function decide (conn: Connection, requested: ISubscription, identifier: number | undefined): Promise<Decision> {
  const sub: Subscription = { topic: requested.topic, qos: requested.qos }
  if (conn.version === 5) {
    if (requested.nl === true) sub.nl = true
    if (requested.rap === true) sub.rap = true
    if (requested.rh !== undefined && requested.rh !== 0) sub.rh = requested.rh
    if (identifier !== undefined) sub.id = identifier
  }
  const isNew = !(sub.topic in conn.subscriptions)
  if (!validTopicFilter(sub.topic)) return Promise.resolve({ sub, reason: ReasonCode.topicFilterInvalid, isNew })
  if (isSharedFilter(sub.topic) && parseShared(sub.topic) === null) return Promise.resolve({ sub, reason: ReasonCode.topicFilterInvalid, isNew })
  return new Promise(resolve => {
    conn.core.hooks.authorizeSubscribe(conn.asClient, sub, (err, allowed) => {
      if (err || !allowed) return resolve({ sub, reason: ReasonCode.notAuthorized, isNew })
      sub.qos = allowed.qos // a hook may lower the QoS it grants
      resolve({ sub, reason: allowed.qos, isNew })
    })
  })
}

/**
 * --max-subscriptions-per-client: a filter the session does not hold yet is refused (0x97,
 * MQTT 3.1.1: 0x80) once it holds that many; filters it holds are granted again. Counted in
 * swallow_subscriptions_refused_total{reason="max_subscriptions"}, logged once per
 * connection. The filters of one packet count one by one, so the limit also bounds what a
 * single SUBSCRIBE adds. It runs after the hooks: a filter the ACL refused does not count.
 */
function applySubscriptionLimit (conn: Connection, decisions: Decision[]): void {
  const { maxSubscriptions } = conn.core.limits
  let held = Object.keys(conn.subscriptions).length
  if (held + decisions.length <= maxSubscriptions) return
  const added = new Set<string>()
  for (const d of decisions) {
    if (d.reason >= 0x80 || !d.isNew || added.has(d.sub.topic)) continue
    if (held < maxSubscriptions) {
      held++
      added.add(d.sub.topic)
      continue
    }
    d.reason = ReasonCode.quotaExceeded
    conn.core.metrics.subscriptionsRefused.inc({ reason: 'max_subscriptions' })
    conn.warnOnce('subscription refused: the client holds --max-subscriptions-per-client filters (further refusals on this connection are counted, not logged)', { max: maxSubscriptions, topic: d.sub.topic })
  }
}

/**
 * Retained messages for the granted filters, after the SUBACK (MQTT-3.3.1-6): Retain
 * Handling 0 sends them, 1 only for a new subscription, 2 never (MQTT-3.3.1-9, -10, -11).
 */
function sendRetained (conn: Connection, granted: Decision[]): void {
  // A shared subscription gets no retained messages (MQTT 5 section 4.8.2).
  const wanted = granted.filter(d => !isSharedFilter(d.sub.topic) && ((d.sub.rh ?? 0) === 0 || (d.sub.rh === 1 && d.isNew))).map(d => d.sub)
  // The 'subscribe' event names the subscriber of the retained stream asked for right after
  // it, in the same synchronous step (plugins/retained listens for it).
  conn.core.broker.emit('subscribe', granted.map(d => d.sub), conn.asClient)
  if (wanted.length === 0) return closeRetainedWindow(conn)
  const retained = conn.persistence.createRetainedStreamCombi(wanted.map(s => s.topic))
  ;(async () => {
    for await (const packet of retained as AsyncIterable<RoutedPacket>) {
      if (conn.closed) break
      await new Promise<void>(resolve => deliverRetained(conn, packet, wanted, resolve))
    }
  })().catch(err => conn.core.log.warn({ err, clientId: conn.id }, 'retained messages not sent')).finally(() => closeRetainedWindow(conn))
}
