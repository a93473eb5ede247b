// What every connection of the protocol core shares: the broker (router, registry, hooks,
// events), the persistence, the limits from the config, metrics, the log and the timers.
import type { SysListeners } from './sys-listeners.js'
import type { Aedes, AuthenticateError, Client, ConnectPacket } from 'aedes'
import type { Redis } from 'ioredis'
import type { ClusterEmitter } from '../cluster-emitter.js'
import type { Config } from '../config.js'
import type { AuthMethod } from '../hooks.js'
import type { Logger } from '../logger.js'
import type { CoreMetrics } from '../metrics.js'
import type { StoredSessions } from '../session-index.js'
import { hookSlots } from '../aedes-seam.js'
import { KeepaliveWheel } from './keepalive.js'
import { SharedQoS0Bytes } from './publish-bytes.js'
import { PartialPackets } from './partial-packets.js'
import type { QueueFullPolicy } from './outbound.js'
import { MessageRoute } from './route.js'
import { SessionLimit } from './session-limit.js'
import { localGroups, SharedGroups, type GroupFactory } from './shared-groups.js'
import { clusterGroups } from './shared-cluster.js'
import { SharedStreams } from './shared-stream.js'
import type { Persistence, RoutedPacket, Subscription } from './types.js'

export interface CoreLimits {
  maxPacketSize: number
  connectTimeout: number
  maxInflight: number
  maxQueued: number
  queueFullPolicy: QueueFullPolicy
  maxQueuedBytes: number
  slowClientTimeout: number
  /** Topic aliases a client may set on its PUBLISHes (MQTT 5 Topic Alias Maximum). */
  topicAliasMaximum: number
  /** --max-subscriptions-per-client. */
  maxSubscriptions: number
  /** --max-session-expiry in seconds (0xFFFFFFFF: none). */
  maxSessionExpiry: number
  /** --max-keepalive in seconds (0: none). */
  maxKeepalive: number
  /** --response-information, with %c for the client id (null: none sent). */
  responseInformation: string | null
}

/** The hook slots of the broker, as src/hooks.ts composes them (typed with Aedes's Client). */
export interface BrokerHooks {
  preConnect: (client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void) => void
  authenticate: (client: Client, username: string | undefined, password: Buffer | undefined,
    done: (err: AuthenticateError | null, ok: boolean | null) => void) => void
  authorizePublish: (client: Client | null, packet: RoutedPacket, done: (err?: Error | null) => void) => void
  authorizeSubscribe: (client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void) => void
  authorizeForward: (client: Client, packet: RoutedPacket) => RoutedPacket | null | undefined
}

export interface Core {
  broker: Aedes
  hooks: BrokerHooks
  persistence: Persistence
  limits: CoreLimits
  metrics: CoreMetrics
  log: Logger
  keepalive: KeepaliveWheel
  /** Which client ids may have stored state (embedded storage); null: assume any. */
  storedSessions: StoredSessions | null
  /** An authorizePublish hook called hooks.dropPublish(packet): acknowledge, do not route. */
  isDropped: (packet: RoutedPacket) => boolean
  /** The plugin implementing an MQTT 5 authentication method (src/hooks.ts addAuthMethod). */
  authMethod: (name: string) => AuthMethod | undefined
  /** MQTT 5 wills waiting for their Will Delay Interval, by client id (cancelled by a reconnect). */
  delayedWills: Map<string, { timer: NodeJS.Timeout, publish: () => void }>
  sharedQoS0: SharedQoS0Bytes
  /** This node's deletion timers of sessions that ended with a finite expiry, by client id. */
  expiringSessions: Map<string, NodeJS.Timeout>
  /** A session's offline markers being written, by client id (a CONNECT of the id waits for them: session.ts). */
  offlineWrites: Map<string, Promise<void>>
  /** Bytes of unfinished packets over all connections (--max-buffered-bytes). */
  partials: PartialPackets
  /** The shared-subscription groups of this node's connections (with Redis storage they span the cluster). */
  shared: SharedGroups
  /** Where an authorized message goes: retained store, offline queues, router, published hooks (route.ts). */
  route: MessageRoute
  /** --max-sessions. */
  sessionLimit: SessionLimit
  /** Whether anybody here subscribes to $SYS topics (the plugins skip $SYS messages nobody gets). */
  sysListeners: SysListeners
  /** Other nodes or a $SYS subscriber may want Aedes's client announcements (src/aedes-seam.ts registerClient). */
  announceClients: () => boolean
}

export interface CoreParts {
  broker: Aedes
  config: Config
  persistence: unknown
  storedSessions: StoredSessions | null
  metrics: CoreMetrics
  log: Logger
  isDropped: Core['isDropped']
  authMethod: Core['authMethod']
  /** Made before the plugins (they publish through it too, src/plugin.ts). */
  route: MessageRoute
  /** Made before the plugins (they ask it, src/plugin.ts). */
  sysListeners: SysListeners
  /** Redis storage: the shared groups' Redis connection, this node's id and the route between nodes. */
  cluster: { redis: Redis, nodeId: string, emitter: ClusterEmitter } | null
}

/** Storage's persistence (wrapped aedes-persistence 11) offers the operations the core calls. */
const asPersistence = (persistence: unknown): Persistence => persistence as Persistence

/** The publish route, made before the plugins: they publish through it too (src/plugin.ts). */
export function createRoute (broker: Aedes, persistence: unknown): MessageRoute {
  return new MessageRoute(broker, asPersistence(persistence))
}

// How long a message's hand-off into a cluster group's stream is remembered: longer than any
// node lags behind the route stream while Redis is up (they read it within milliseconds).
const SEEN_TTL_MS = 120_000

export function createCore ({ broker, config, persistence, storedSessions, metrics, log, isDropped, authMethod, route, sysListeners, cluster }: CoreParts): Core {
  const stored = asPersistence(persistence)
  const settings = { strategy: (group: string) => config.sharedGroups[group]?.strategy ?? config.sharedStrategy, backlogLimit: config.sharedBacklog }
  const factory: GroupFactory = cluster === null
    ? localGroups(stored, metrics, log, settings)
    : clusterGroups({
      streams: new SharedStreams(cluster.redis, cluster.nodeId, SEEN_TTL_MS, config.sharedBacklog),
      brokerId: broker.id,
      emitter: cluster.emitter,
      settings: { ...settings, claimTimeout: config.sharedClaimTimeout },
      metrics,
      log,
      learn: async key => await shared.learn(key)
    })
  const shared: SharedGroups = new SharedGroups(broker, stored, metrics, factory)
  return {
    broker,
    isDropped,
    authMethod,
    // The composed hooks live in the broker's slots (src/hooks.ts install()); read at call time.
    hooks: hookSlots<BrokerHooks>(broker),
    persistence: stored,
    limits: {
      maxPacketSize: config.maxPacketSize,
      connectTimeout: config.connectTimeout,
      maxInflight: config.maxInflight,
      maxQueued: config.maxQueued,
      queueFullPolicy: config.queueFullPolicy,
      maxQueuedBytes: config.maxQueuedBytes,
      slowClientTimeout: config.slowClientTimeout,
      topicAliasMaximum: 10,
      maxSubscriptions: config.maxSubscriptionsPerClient,
      maxSessionExpiry: config.maxSessionExpiry === null ? 0xffffffff : Math.floor(config.maxSessionExpiry / 1000),
      maxKeepalive: config.maxKeepalive === null ? 0 : Math.min(65_535, Math.floor(config.maxKeepalive / 1000)),
      responseInformation: config.responseInformation
    },
    metrics,
    log,
    keepalive: new KeepaliveWheel(),
    storedSessions,
    delayedWills: new Map(),
    sharedQoS0: new SharedQoS0Bytes(),
    expiringSessions: new Map(),
    offlineWrites: new Map(),
    partials: new PartialPackets({ maxBufferedBytes: config.maxBufferedBytes, partialPacketTimeout: config.partialPacketTimeout }),
    shared,
    route,
    sessionLimit: new SessionLimit(stored, config.maxSessions, metrics.sessionsRefused),
    sysListeners,
    announceClients: cluster !== null ? () => true : () => sysListeners.any
  }
}
