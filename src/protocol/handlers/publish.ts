// PUBLISH from a client, top to bottom:
//   resolve the topic alias -> validate -> QoS 2: answer a retransmission at once ->
//   `$delayed/<s>/` prefix off -> authorize (hooks: ACL, delayed publish, log bridge) ->
//   store durably and route (route.ts: retained store, offline queues of persistent
//   sessions, the router, the published hooks; not for a message a hook deferred) ->
//   remember a QoS 2 packet id -> acknowledge (PUBACK / PUBREC).
// Nothing is acknowledged before it is stored wherever it must survive a crash. A PUBLISH
// the ACL refuses is acknowledged and dropped on MQTT 3.1.1 (the protocol has no refusal),
// and answered with reason code 0x87 on MQTT 5; the connection stays up either way.
import { isUtf8 } from 'node:buffer'
import type { IPublishPacket } from 'mqtt-packet'
import { isNoSuchPacket } from '../../aedes-seam.js'
import { ProtocolError, type Connection } from '../connection.js'
import type { HandlerDone } from '../inbox.js'
import { ReasonCode } from '../reason-codes.js'
import { validTopicName } from '../topic-rules.js'
import type { MessageProperties, RoutedPacket } from '../types.js'

type Done = HandlerDone

export function handlePublish (conn: Connection, packet: IPublishPacket, done: Done): void {
  conn.messagesIn++
  const topic = resolveTopicAlias(conn, packet)
  if (topic instanceof Error) return done(topic)
  if (!validTopicName(topic)) return done(new ProtocolError(`invalid topic name in PUBLISH: ${JSON.stringify(topic.slice(0, 100))}`, ReasonCode.topicNameInvalid))
  const message = routedMessage(packet, topic)
  takeDelayPrefix(message)
  if (packet.properties?.payloadFormatIndicator === true && !isUtf8(message.payload)) {
    if (packet.qos === 0) return done(new ProtocolError('payload is not UTF-8 but its Payload Format Indicator says it is', ReasonCode.payloadFormatInvalid))
    return acknowledge(conn, packet, ReasonCode.payloadFormatInvalid, done)
  }
  if (packet.qos !== 2) return authorizeAndPublish(conn, packet, message, done)
  receivedBefore(conn, packet, (seen, err) => {
    if (err !== undefined) return done(err as Error)
    if (seen) return acknowledge(conn, packet, ReasonCode.success, done)
    if (conn.version === 5 && conn.unacknowledgedIn >= conn.core.limits.maxInflight) {
      return done(new ProtocolError(`more than ${conn.core.limits.maxInflight} QoS 2 messages awaiting PUBREL (Receive Maximum)`, ReasonCode.receiveMaximumExceeded))
    }
    authorizeAndPublish(conn, packet, message, done)
  })
}

function authorizeAndPublish (conn: Connection, packet: IPublishPacket, message: RoutedPacket, done: Done): void {
  conn.core.hooks.authorizePublish(conn.asClient, message, err => {
    if (err) return done(err)
    if (conn.core.isDropped(message)) return acknowledge(conn, packet, conn.version === 5 ? message.refusal ?? ReasonCode.notAuthorized : ReasonCode.success, done)
    routeUnlessDeferred(conn, message, err => {
      if (err) return done(err)
      if (packet.qos !== 2) return acknowledge(conn, packet, ReasonCode.success, done)
      rememberQoS2(conn, message, packet.messageId as number).then(() => acknowledge(conn, packet, ReasonCode.success, done), done)
    })
  })
}

/** A hook deferred the message (hooks.deferPublish): it is stored to be published later, nothing to route now. */
function routeUnlessDeferred (conn: Connection, message: RoutedPacket, done: (err?: Error | null) => void): void {
  if (message.deferred === true) return done()
  conn.core.route.publish(message, conn.asClient, done)
}

/**
 * `$delayed/<seconds>/<topic>` (EMQX's spelling): the hooks see the inner topic (the ACL
 * checks what will be published) and the seconds in `delayed`; the delayed-publish plugin
 * stores the message and defers it (plugins/delayed).
 */
function takeDelayPrefix (message: RoutedPacket): void {
  const topic = message.topic
  if (topic.charCodeAt(0) !== 36 || !topic.startsWith('$delayed/')) return
  const slash = topic.indexOf('/', 9)
  message.delayed = slash === -1 ? topic.slice(9) : topic.slice(9, slash)
  message.topic = slash === -1 ? '' : topic.slice(slash + 1)
}

/** MQTT 5 Topic Alias: a PUBLISH may set one (topic + alias) or use one (empty topic + alias). */
function resolveTopicAlias (conn: Connection, packet: IPublishPacket): string | Error {
  const alias = packet.properties?.topicAlias
  if (alias === undefined) return packet.topic
  if (alias === 0 || alias > conn.core.limits.topicAliasMaximum) {
    return new ProtocolError(`topic alias ${alias} outside 1..${conn.core.limits.topicAliasMaximum} (Topic Alias Maximum)`, ReasonCode.topicAliasInvalid)
  }
  if (packet.topic !== '') {
    (conn.topicAliases ??= new Map()).set(alias, packet.topic)
    return packet.topic
  }
  return conn.topicAliases?.get(alias) ?? new ProtocolError(`topic alias ${alias} used before it was set`, ReasonCode.protocolError)
}

/** The message as the router carries it: MQTT 5 properties that travel, expiry as a deadline. */
function routedMessage (packet: IPublishPacket, topic: string): RoutedPacket {
  const message: RoutedPacket = {
    cmd: 'publish',
    topic,
    payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
    qos: packet.qos,
    retain: packet.retain,
    // The client's packet id and DUP flag, for the authorizePublish and published hooks (the
    // log bridge recognises a retransmission by them); the router gives each delivery its own.
    dup: packet.dup,
    ...(packet.qos > 0 ? { messageId: packet.messageId } : {})
  }
  const from = packet.properties
  if (from === undefined) return message
  const properties: MessageProperties = {}
  if (from.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = from.payloadFormatIndicator
  if (from.contentType !== undefined) properties.contentType = from.contentType
  if (from.responseTopic !== undefined) properties.responseTopic = from.responseTopic
  if (from.correlationData !== undefined) properties.correlationData = from.correlationData
  if (from.userProperties !== undefined) properties.userProperties = from.userProperties
  if (from.messageExpiryInterval !== undefined) {
    properties.messageExpiryInterval = from.messageExpiryInterval
    message.messageExpiry = Date.now() + from.messageExpiryInterval * 1000
  }
  if (Object.keys(properties).length > 0) message.properties = properties
  return message
}

/**
 * QoS 2 is delivered when the PUBLISH arrives; its packet id is kept until PUBREL, so that a
 * retransmission (a persistent session's after a reconnect or a restart: DUP set) is
 * answered with PUBREC without being authorized, logged or delivered again (MQTT-4.3.3-9).
 * A clean session keeps the ids in memory, a persistent one in its storage. A failed lookup
 * is not "not seen" (that could deliver the message twice): `err`, the connection closes and
 * the client retransmits after it reconnects.
 */
function receivedBefore (conn: Connection, packet: IPublishPacket, cb: (seen: boolean, err?: unknown) => void): void {
  const messageId = packet.messageId as number
  if (conn.clean) return cb(conn.incomingQoS2?.has(messageId) === true)
  if (!packet.dup) return cb(false)
  conn.persistence.incomingGetPacket(conn, { messageId }).then(() => cb(true), err => isNoSuchPacket(err) ? cb(false) : cb(false, err))
}

async function rememberQoS2 (conn: Connection, message: RoutedPacket, messageId: number): Promise<void> {
  if (conn.clean) (conn.incomingQoS2 ??= new Set()).add(messageId)
  else await conn.persistence.incomingStorePacket(conn, { ...message, messageId })
  conn.unacknowledgedIn++
}

function acknowledge (conn: Connection, packet: IPublishPacket, reasonCode: number, done: Done): void {
  if (packet.qos === 0) return done()
  const cmd = packet.qos === 1 ? 'puback' : 'pubrec'
  // Written by the inbox, in the order the PUBLISHes came (src/protocol/inbox.ts).
  done(null, conn.version === 5 && reasonCode !== ReasonCode.success
    ? { cmd, messageId: packet.messageId, reasonCode }
    : { cmd, messageId: packet.messageId })
}
