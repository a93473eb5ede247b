// From a routed message to the PUBLISH one connection receives. One rule for every QoS and
// both session kinds: the best matching subscription decides, its QoS capped by the
// published QoS (MQTT-3.3.5-1, MQTT-3.8.4-6), and an MQTT 5 client gets the identifier of
// every matching subscription (MQTT-3.3.4-4) in that one PUBLISH. A message matching several
// of a client's subscriptions is delivered once (the choice MQTT-3.3.4-2 allows), also to
// MQTT 3.1.1 clients.
import { topicMatches } from '../topics.js'
import type { Connection } from './connection.js'
import { queuedAt } from './queued-at.js'
import type { SharedOrigin } from './shared-members.js'
import type { MessageProperties, OutgoingPublish, QoS, RoutedPacket, Subscription } from './types.js'

export interface Match {
  qos: QoS
  retainAsPublished: boolean
  /** MQTT 5 subscription identifiers of the matching subscriptions (null: none). */
  identifiers: number[] | null
}

/** The connection's subscriptions or a SUBSCRIBE's granted list, against one message. */
export function bestMatch (subscriptions: readonly Subscription[], packet: Pick<RoutedPacket, 'topic'>, ownMessage: boolean): Match | null {
  let match: Match | null = null
  for (let i = 0; i < subscriptions.length; i++) {
    const sub = subscriptions[i]
    if (!topicMatches(sub.topic, packet.topic)) continue
    if (sub.nl === true && ownMessage) continue // MQTT-3.8.3-3: No Local
    if (match === null) match = { qos: sub.qos, retainAsPublished: sub.rap === true, identifiers: null }
    else if (sub.qos > match.qos) match.qos = sub.qos
    if (sub.rap === true) match.retainAsPublished = true
    if (sub.id !== undefined) (match.identifiers ??= []).push(sub.id)
  }
  return match
}

/** The router's listener: a live message for this connection's subscriptions. */
export function deliverRouted (conn: Connection, packet: RoutedPacket, cb: () => void): void {
  if (conn.closed || packet === conn.lastRouted) return cb()
  conn.lastRouted = packet
  const match = bestMatch(conn.subscriptionList, packet, packet.clientId === conn.id)
  if (match === null) return cb()
  conn.retainedWindow?.topics.add(packet.topic)
  // A live message keeps its retain flag only for Retain As Published (MQTT-3.3.1-12, -13).
  forward(conn, packet, match, match.retainAsPublished && packet.retain, true, cb)
}

/**
 * From a SUBSCRIBE's start to the end of its retained messages, the topics delivered live
 * are noted: a message published while the SUBSCRIBE is handled reaches the client live
 * (the route is in place) and may be in the retained store by the time it is read.
 */
export function openRetainedWindow (conn: Connection): void {
  if (conn.retainedWindow === null) conn.retainedWindow = { topics: new Set(), open: 0 }
  conn.retainedWindow.open++
}

export function closeRetainedWindow (conn: Connection): void {
  if (conn.retainedWindow !== null && --conn.retainedWindow.open === 0) conn.retainedWindow = null
}

/** A retained message sent because of a new subscription (MQTT-3.3.1-6): retain flag set. */
export function deliverRetained (conn: Connection, packet: RoutedPacket, granted: readonly Subscription[], cb: () => void): void {
  const match = bestMatch(granted, packet, false)
  if (match === null || conn.closed) return cb()
  // A live message on this topic reached the client since its SUBSCRIBE began: it is the
  // retained one (published while the SUBSCRIBE was handled) or newer. Not sent twice.
  if (conn.retainedWindow?.topics.has(packet.topic) === true) return cb()
  forward(conn, packet, match, true, false, cb)
}

/**
 * A message a shared group chose this connection for (shared-groups.ts). It is not in the
 * connection's stored queue (the group, not the session, owns it), and carries its origin
 * so that it goes back to the group if the connection leaves before acknowledging it.
 * `cb(true)`: it is in the connection's window or queue, and the group hears of it again
 * (settled, or given back); `cb()`: nothing more comes (sent at QoS 0, or not sent).
 */
export function deliverShared (conn: Connection, packet: RoutedPacket, sub: Subscription, origin: SharedOrigin, cb: (awaitsAck?: boolean) => void): void {
  const match: Match = { qos: sub.qos, retainAsPublished: sub.rap === true, identifiers: sub.id !== undefined ? [sub.id] : null }
  forward(conn, packet, match, match.retainAsPublished && packet.retain, false, cb, origin)
}

function forward (conn: Connection, routed: RoutedPacket, match: Match, retain: boolean, live: boolean, cb: (awaitsAck?: boolean) => void, origin?: SharedOrigin): void {
  const packet = conn.core.hooks.authorizeForward(conn.asClient, routed)
  if (!packet) return cb()
  if (typeof packet.messageExpiry === 'number' && packet.messageExpiry <= Date.now()) {
    conn.core.metrics.dropped.inc({ reason: 'expired' })
    return cb()
  }
  const qos = Math.min(packet.qos, match.qos) as QoS
  conn.core.metrics.messagesOut.inc(qos)
  conn.messagesOut++
  // The fan-out path: the bytes every subscriber of this message shares (MQTT 5: when it
  // carries no properties for this subscriber: none from the publisher, no expiry, no
  // identifier, and no topic alias of this connection's).
  if (qos === 0 && (conn.version !== 5 || (packet.properties == null && packet.messageExpiry == null && match.identifiers === null && conn.aliasesOut === null))) {
    return conn.outbound.sendQoS0(conn.core.sharedQoS0.of(packet, retain, conn.version === 5), cb)
  }
  const out = outgoingPublish(conn, packet, qos, retain, match.identifiers)
  if (qos === 0) return conn.outbound.sendQoS0(out, cb)
  if (origin !== undefined) {
    out.shared = origin
    return conn.outbound.sendQoS12(out, 'paced', () => cb(true))
  }
  // A persistent session's live QoS 1/2 message is in its stored queue already (route.ts).
  conn.outbound.sendQoS12(out, !live ? 'paced' : !conn.clean && packet.brokerId !== undefined ? 'stored' : 'live', cb)
}

/**
 * The PUBLISH one connection gets for a message, live or from its stored queue. The expiry
 * deadline stays on it: a persistent session's stored queue keeps this packet once it has a
 * packet id, so a resend after a reconnect or a restart still gets the time left.
 */
export function outgoingPublish (conn: Connection, message: Omit<RoutedPacket, 'cmd'>, qos: QoS, retain: boolean, identifiers: number[] | null): OutgoingPublish {
  const out: OutgoingPublish = {
    cmd: 'publish',
    topic: message.topic,
    payload: message.payload,
    qos,
    retain,
    dup: false,
    brokerId: message.brokerId,
    brokerCounter: message.brokerCounter
  }
  if (typeof message.messageExpiry === 'number') out.messageExpiry = message.messageExpiry
  const receivedAt = queuedAt(message)
  if (receivedAt !== null) out.receivedAt = receivedAt
  // Most messages carry none: no properties object, and the clock read only for a remaining
  // expiry (reading it for every MQTT 5 delivery was ~40 ns each, the one MQTT 5-only cost
  // per message in a fan-in profile).
  if (conn.version === 5 && (message.properties != null || identifiers !== null || out.messageExpiry !== undefined)) {
    const properties = outgoingProperties(message, identifiers)
    if (properties !== undefined) out.properties = properties
  }
  return out
}

/**
 * The publisher's properties a subscriber receives, with the remaining expiry and its
 * subscription identifiers. (Packets read back from storage carry null for absent fields.)
 */
function outgoingProperties (packet: Omit<RoutedPacket, 'cmd'>, identifiers: number[] | null): OutgoingPublish['properties'] {
  const from: MessageProperties | null | undefined = packet.properties
  const expiry = typeof packet.messageExpiry === 'number' ? packet.messageExpiry : null
  if (from == null && identifiers === null && expiry === null) return undefined
  const properties: NonNullable<OutgoingPublish['properties']> = {}
  if (from?.payloadFormatIndicator != null) properties.payloadFormatIndicator = from.payloadFormatIndicator
  if (expiry !== null) properties.messageExpiryInterval = Math.max(1, Math.ceil((expiry - Date.now()) / 1000))
  if (from?.contentType != null) properties.contentType = from.contentType
  if (from?.responseTopic != null) properties.responseTopic = from.responseTopic
  if (from?.correlationData != null) properties.correlationData = Buffer.from(from.correlationData)
  if (from?.userProperties != null) properties.userProperties = from.userProperties
  if (identifiers?.length === 1) properties.subscriptionIdentifier = identifiers[0]
  else if (identifiers !== null) properties.subscriptionIdentifier = identifiers
  return Object.keys(properties).length > 0 ? properties : undefined
}
