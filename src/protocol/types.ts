// The shapes that cross the protocol core's boundary: what the router hands a connection,
// what a connection writes, and the persistence operations it calls (aedes-persistence 11's
// async interface, wrapped by src/storage.ts).
import type { IPublishPacket, UserProperties } from 'mqtt-packet'
import type { SharedOrigin } from './shared-members.js'

export type QoS = 0 | 1 | 2

/** MQTT 5 PUBLISH properties that travel with a message from publisher to subscribers. */
export interface MessageProperties {
  payloadFormatIndicator?: boolean
  messageExpiryInterval?: number
  contentType?: string
  responseTopic?: string
  correlationData?: Buffer
  userProperties?: UserProperties
}

/** A message as the router (aedes-packet) carries it, and as offline queues store it. */
export interface RoutedPacket {
  cmd: 'publish'
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  dup: boolean
  messageId?: number
  brokerId?: string
  brokerCounter?: number
  /** The publisher's client id (Aedes sets it; No Local compares it). */
  clientId?: string
  properties?: MessageProperties | null
  /** Date.now() after which the message expires (MQTT 5 Message Expiry Interval). */
  messageExpiry?: number | null
  /** Date.now() when a QoS 1/2 message was stored in an offline queue (queued-at.ts). */
  receivedAt?: number | null
  /** Read back from a stored queue: the client whose delivery gave it its packet id (stored-queue.ts ownPacketId). */
  sentTo?: string | null
  /** `$delayed/<seconds>/<topic>`: the <seconds> text the PUBLISH handler took off the topic, for the delayed-publish plugin. */
  delayed?: string
  /** An authorizePublish hook stored the message to publish later (src/hooks.ts deferPublish): acknowledged, not routed now. */
  deferred?: true
  /** The MQTT 5 reason code of a hooks.dropPublish that is not 0x87 (Not authorized). */
  refusal?: number
}

export type OutgoingPublish = IPublishPacket & {
  brokerId?: string
  brokerCounter?: number
  messageExpiry?: number
  /** From the message (queued-at.ts): a stored queue's record of this PUBLISH keeps it. */
  receivedAt?: number
  /** The client it is sent to, kept in the stored queue's record with its packet id (stored-queue.ts ownPacketId). */
  sentTo?: string
  /** A shared group's delivery: back to the group if the member leaves before acknowledging it. */
  shared?: SharedOrigin
}

/** One granted subscription of a connection, as stored for a persistent session. */
export interface Subscription {
  topic: string
  qos: QoS
  /** MQTT 5 No Local: not sent the messages this client publishes. */
  nl?: boolean
  /** MQTT 5 Retain As Published: keep the publisher's retain flag on live deliveries. */
  rap?: boolean
  /** MQTT 5 Retain Handling: 0 send retained on subscribe, 1 only if new, 2 never. */
  rh?: number
  /** MQTT 5 Subscription Identifier. */
  id?: number
}

export interface StoredSubscription extends Subscription { clientId?: string }

/** A stored subscription found by topic: it names its session. */
export interface TopicSubscription extends Subscription { clientId: string }

export interface SessionClient { id: string }

/** The persistence operations the protocol core calls (aedes-persistence 11 async API). */
export interface Persistence {
  addSubscriptions: (client: SessionClient, subs: Subscription[]) => Promise<void>
  removeSubscriptions: (client: SessionClient, topics: string[]) => Promise<void>
  subscriptionsByClient: (client: SessionClient) => Promise<StoredSubscription[]>
  cleanSubscriptions: (client: SessionClient) => Promise<void>
  /** Every stored subscription matching a topic, of every client (the persistence's subscription index). */
  subscriptionsByTopic: (topic: string) => Promise<TopicSubscription[]>
  /** The stored queue: messages (with a packet id once sent) and PUBRELs waiting for PUBCOMP. */
  outgoingStream: (client: SessionClient) => AsyncIterable<Omit<RoutedPacket, 'cmd'> & { cmd: 'publish' | 'pubrel' }>
  /** Stores a message in each named client's queue (the shared groups' backlogs use it). */
  outgoingEnqueueCombi: (subs: Array<{ clientId: string, topic: string, qos: QoS }>, packet: object) => Promise<unknown>
  outgoingUpdate: (client: SessionClient, packet: object) => Promise<void>
  outgoingClearMessageId: (client: SessionClient, packet: { messageId: number }) => Promise<unknown>
  incomingStorePacket: (client: SessionClient, packet: RoutedPacket) => Promise<void>
  incomingGetPacket: (client: SessionClient, packet: { messageId: number }) => Promise<RoutedPacket>
  incomingDelPacket: (client: SessionClient, packet: { messageId: number }) => Promise<void>
  /** Not in every persistence (aedes-persistence-redis 11 lacks it). */
  cleanIncoming?: (client: SessionClient) => Promise<void>
  putWill: (client: SessionClient, will: object) => Promise<unknown>
  delWill: (client: SessionClient) => Promise<unknown>
  createRetainedStreamCombi: (filters: string[]) => AsyncIterable<RoutedPacket>
  /** Stores (or, with an empty payload, deletes) the topic's retained message (the retained plugin replaces it). */
  storeRetained: (packet: RoutedPacket) => Promise<void>
}
