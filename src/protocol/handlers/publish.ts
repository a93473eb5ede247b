// PUBLISH from a client, top to bottom:
//   resolve the topic alias -> validate -> authorize (hooks: ACL, log bridge) ->
//   QoS 2: skip a retransmission -> store durably and route (broker.publish: retained store,
//   offline queues of persistent sessions, then the router) -> remember a QoS 2 packet id ->
//   acknowledge (PUBACK / PUBREC).
// Nothing is acknowledged before it is stored wherever it must survive a crash. A PUBLISH
// the ACL refuses is acknowledged and dropped on MQTT 3.1.1 (the protocol has no refusal),
// and answered with reason code 0x87 on MQTT 5; the connection stays up either way.
import { isUtf8 } from 'node:buffer'
import type { IPublishPacket } from 'mqtt-packet'
import { publishFrom } from '../../aedes-seam.js'
import { ProtocolError, type Connection } from '../connection.js'
import { ReasonCode } from '../reason-codes.js'
import { validTopicName } from '../topic-rules.js'
import type { MessageProperties, RoutedPacket } from '../types.js'

type Done = (err?: Error | null) => void

export function handlePublish (conn: Connection, packet: IPublishPacket, done: Done): void {
  const topic = resolveTopicAlias(conn, packet)
  if (topic instanceof Error) return done(topic)
  if (!validTopicName(topic)) return done(new ProtocolError(`invalid topic name in PUBLISH: ${JSON.stringify(topic.slice(0, 100))}`, ReasonCode.topicNameInvalid))
  const message = routedMessage(packet, topic)
  if (packet.properties?.payloadFormatIndicator === true && !isUtf8(message.payload)) {
    if (packet.qos === 0) return done(new ProtocolError('payload is not UTF-8 but its Payload Format Indicator says it is', ReasonCode.payloadFormatInvalid))
    return acknowledge(conn, packet, ReasonCode.payloadFormatInvalid, done)
  }
  if (packet.qos === 2 && conn.unacknowledgedIn >= conn.core.limits.maxInflight && !conn.incomingQoS2.has(packet.messageId as number)) {
    return done(new ProtocolError(`more than ${conn.core.limits.maxInflight} QoS 2 messages awaiting PUBREL (Receive Maximum)`, ReasonCode.receiveMaximumExceeded))
  }
  conn.core.hooks.authorizePublish(conn.asClient, message, err => {
    if (err) return done(err)
    if (conn.core.isDropped(message)) return acknowledge(conn, packet, conn.version === 5 ? ReasonCode.notAuthorized : ReasonCode.success, done)
    if (packet.qos === 2) return publishExactlyOnce(conn, packet, message, done)
    publishFrom(conn.core.broker, message, conn.asClient, (err?: Error) => {
      if (err) return done(err)
      acknowledge(conn, packet, ReasonCode.success, done)
    })
  })
}

/** MQTT 5 Topic Alias: a PUBLISH may set one (topic + alias) or use one (empty topic + alias). */
function resolveTopicAlias (conn: Connection, packet: IPublishPacket): string | Error {
  const alias = packet.properties?.topicAlias
  if (alias === undefined) return packet.topic
  if (alias === 0 || alias > conn.core.limits.topicAliasMaximum) {
    return new ProtocolError(`topic alias ${alias} outside 1..${conn.core.limits.topicAliasMaximum} (Topic Alias Maximum)`, ReasonCode.topicAliasInvalid)
  }
  if (packet.topic !== '') {
    conn.topicAliases.set(alias, packet.topic)
    return packet.topic
  }
  return conn.topicAliases.get(alias) ?? new ProtocolError(`topic alias ${alias} used before it was set`, ReasonCode.protocolError)
}

/** The message as the router carries it: MQTT 5 properties that travel, expiry as a deadline. */
function routedMessage (packet: IPublishPacket, topic: string): RoutedPacket {
  const message: RoutedPacket = {
    cmd: 'publish',
    topic,
    payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
    qos: packet.qos,
    retain: packet.retain,
    dup: false
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
 * QoS 2, delivered when the PUBLISH arrives: the packet id is kept until PUBREL so that a
 * retransmission (DUP set) is acknowledged without being delivered twice (MQTT-4.3.3-9).
 */
function publishExactlyOnce (conn: Connection, packet: IPublishPacket, message: RoutedPacket, done: Done): void {
  const messageId = packet.messageId as number
  if (conn.clean) {
    if (conn.incomingQoS2.has(messageId)) return acknowledge(conn, packet, ReasonCode.success, done)
    return publishFrom(conn.core.broker, message, conn.asClient, (err?: Error) => {
      if (err) return done(err)
      conn.incomingQoS2.add(messageId)
      conn.unacknowledgedIn++
      acknowledge(conn, packet, ReasonCode.success, done)
    })
  }
  const seen: Promise<boolean> = packet.dup
    ? conn.persistence.incomingGetPacket(conn, { messageId }).then(() => true, () => false)
    : Promise.resolve(false)
  seen.then(async duplicate => {
    if (!duplicate) {
      await new Promise<void>((resolve, reject) => publishFrom(conn.core.broker, message, conn.asClient, (err?: Error) => err ? reject(err) : resolve()))
      await conn.persistence.incomingStorePacket(conn, { ...message, messageId })
      conn.unacknowledgedIn++
    }
    acknowledge(conn, packet, ReasonCode.success, done)
  }).catch(done)
}

function acknowledge (conn: Connection, packet: IPublishPacket, reasonCode: number, done: Done): void {
  if (packet.qos === 0) return done()
  const cmd = packet.qos === 1 ? 'puback' : 'pubrec'
  conn.writePacket(conn.version === 5 && reasonCode !== ReasonCode.success
    ? { cmd, messageId: packet.messageId, reasonCode }
    : { cmd, messageId: packet.messageId })
  done()
}
