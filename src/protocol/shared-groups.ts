// Shared subscriptions ($share/<group>/<filter>, MQTT 5 section 4.8.2, accepted from MQTT
// 3.1.1 clients too): each message matching the filter goes to one member of the group.
// A group holds one router subscription to its filter on this node; its members are the
// connections subscribed to it here, and shared-members.ts picks one per message.
// This file: the registry of this node's groups, and the one-node group (embedded and
// memory storage). With Redis storage a group spans the nodes (shared-cluster.ts); the
// registry is the same, createCore chooses the kind of group (GroupFactory).
// A member that leaves with messages not yet acknowledged (QoS 2: no PUBREC yet) gives them
// back: they go to another member, at that member's QoS, not back into the gone member's
// session (MQTT 5 4.8.2: SHOULD send it to another client).
// With no member connected, a group one of whose members is a persistent session keeps its
// QoS 1/2 messages in its durable backlog (shared-backlog.ts) until a member is back; a
// group of clean sessions only has no one to give them to: dropped and counted (reason
// shared_no_member), as for a topic nobody subscribes to.
import type { Aedes } from 'aedes'
import type { Logger } from '../logger.js'
import type { CoreMetrics } from '../metrics.js'
import { SHARED_MARKER_TOPIC } from '../session-marker.js'
import type { Connection } from './connection.js'
import { deliverShared } from './deliver.js'
import { SharedBacklog } from './shared-backlog.js'
import { MemberSet, parseShared, type SharedGroupFigures, type SharedGroupLike, type SharedKey, type SharedOrigin, type SharedSettings } from './shared-members.js'
import type { OutgoingPublish, Persistence, RoutedPacket, Subscription } from './types.js'

/** Makes the groups of this node: one-node groups, or groups that span a cluster. */
export interface GroupFactory {
  /** `gone`: the group found that nobody is a member any more (cluster: on any node). */
  create: (shared: SharedKey, gone: (group: SharedGroupLike) => void) => SharedGroupLike
  /** A stored session was deleted: it is no longer a member of any group. */
  forgetSession: (clientId: string) => void
  /** A member joined the group on this node (cluster: the other nodes route the group too). */
  joined: (key: string) => void
  /** The broker stops, its clients are gone: what is on its way to Redis gets there (at most `timeoutMs`). */
  close: (timeoutMs: number) => Promise<void>
}

/** One node's group (embedded and memory storage). */
export class SharedGroup extends MemberSet implements SharedGroupLike {
  readonly backlog: SharedBacklog

  readonly key: string
  readonly filter: string
  private readonly wildcardFirst: boolean

  constructor (private readonly metrics: CoreMetrics, private readonly log: Logger, persistence: Persistence, { key, group, filter }: SharedKey, settings: SharedSettings) {
    super(settings.strategy(group))
    this.key = key
    this.filter = filter
    this.wildcardFirst = filter.startsWith('#') || filter.startsWith('+')
    this.backlog = new SharedBacklog(persistence, key, settings.backlogLimit, metrics, log)
  }

  readonly deliver = (message: RoutedPacket, cb: () => void): void => {
    // The router hands a filter starting with a wildcard $ topics too (MQTT-4.7.2-1: no match).
    if (this.wildcardFirst && message.topic.startsWith('$')) return cb()
    this.dispatch(message, cb, null)
  }

  /**
   * Sends the message to one member (not `except`); with none connected, keeps it in the
   * backlog when a persistent member will come back (QoS 1/2), else drops it. `cb` (the
   * router's: the publisher's acknowledgement follows it) runs once the message is with a
   * member or stored.
   */
  dispatch (message: RoutedPacket, cb: () => void, except: Connection | null, backlogId?: number): void {
    const member = this.choose(message, except)
    if (member !== null) return deliverShared(member.conn, message, member.sub, { group: this, message, backlogId }, cb)
    if (backlogId !== undefined) {
      this.backlog.returned(backlogId) // still stored: the next drain sends it
      return cb()
    }
    if (message.qos > 0 && this.offline.size > 0) {
      this.backlog.store(message).then(() => cb(), err => {
        this.log.error({ err, group: this.key }, 'could not store a message in a shared group backlog')
        cb()
      })
      return
    }
    this.metrics.dropped.inc({ reason: 'shared_no_member' })
    cb()
  }

  redispatch (origin: SharedOrigin, cb: () => void, from: Connection): void {
    this.dispatch(origin.message, cb, from, origin.backlogId)
  }

  /** A member acknowledged a delivery (or refused it): a backlog message leaves the backlog. */
  settled (origin: SharedOrigin): void {
    if (origin.backlogId !== undefined) this.backlog.acknowledged(origin.backlogId)
  }

  /** Sends what waits in the backlog to the connected members. */
  drainBacklog (): void {
    this.backlog.drain((message, backlogId) => new Promise(resolve => {
      const member = this.choose(message, null)
      if (member === null) return resolve(false)
      deliverShared(member.conn, message, member.sub, { group: this, message, backlogId }, () => resolve(true))
    })).catch(err => this.log.warn({ err, group: this.key }, 'could not send a shared group\'s backlog; it is sent when the next member connects'))
  }

  async joined (): Promise<void> {}

  /** The member's connection is live (CONNACK sent): it is no longer offline, and the backlog goes out. */
  memberReady (conn: Connection): void {
    this.offline.delete(conn.id)
    if (this.backlog.size > 0) this.drainBacklog()
  }

  restore (): Promise<void> {
    return this.backlog.restore()
  }

  backlogSize (): number {
    return this.backlog.size
  }

  /** No member at all, connected or not. */
  get empty (): boolean {
    return this.members.length === 0 && this.offline.size === 0
  }

  end (): void {
    if (this.backlog.size > 0) this.backlog.clear().catch(err => this.log.warn({ err, group: this.key }, 'could not delete the backlog of a shared group nobody is a member of'))
  }
}

/** Groups of one node: SharedGroup each. */
export function localGroups (persistence: Persistence, metrics: CoreMetrics, log: Logger, settings: SharedSettings): GroupFactory {
  return {
    create: shared => new SharedGroup(metrics, log, persistence, shared, settings),
    forgetSession: noop,
    joined: noop,
    close: async () => {}
  }
}

/** The shared groups of this node, by `$share/<group>/<filter>`. */
export class SharedGroups {
  private readonly groups = new Map<string, SharedGroupLike>()

  constructor (private readonly broker: Aedes, private readonly persistence: Persistence, private readonly metrics: CoreMetrics,
    private readonly factory: GroupFactory) {}

  /**
   * At start: the groups of persistent sessions stored by an earlier run (each such session
   * holds the $swallow/shared marker), with their members offline and their backlogs, so
   * that messages published before a member reconnects wait for it.
   */
  async restore (): Promise<void> {
    for (const { clientId } of await this.persistence.subscriptionsByTopic(SHARED_MARKER_TOPIC)) {
      if (clientId === undefined) continue
      for (const sub of await this.persistence.subscriptionsByClient({ id: clientId })) {
        const group = await this.groupFor(sub.topic)
        if (group !== null) group.offline.add(clientId)
      }
    }
    await Promise.all([...this.groups.values()].map(g => g.restore()))
  }

  /** Makes the connection a member; the first member routes the group's filter to it. */
  async join (conn: Connection, sub: Subscription): Promise<void> {
    const group = await this.groupFor(sub.topic)
    if (group === null) throw new Error(`not a shared subscription: ${sub.topic}`)
    group.add(conn, sub)
    await group.joined(conn)
    this.factory.joined(group.key)
    if (conn.connected) group.memberReady(conn)
  }

  /** A member joined this group on another node: this node routes its filter too (cluster). */
  async learn (key: string): Promise<void> {
    await this.groupFor(key)
  }

  /** CONNACK sent to a connection whose restored session holds shared subscriptions. */
  connected (conn: Connection): void {
    for (const key in conn.subscriptions) this.groups.get(key)?.memberReady(conn)
  }

  private async groupFor (key: string): Promise<SharedGroupLike | null> {
    const existing = this.groups.get(key)
    if (existing !== undefined) return existing
    const parsed = parseShared(key)
    if (parsed === null) return null
    const group = this.factory.create({ key, ...parsed }, gone => { if (gone.empty && this.groups.get(gone.key) === gone) this.end(gone) })
    this.groups.set(key, group)
    await new Promise<void>((resolve, reject) => {
      this.broker.subscribe(group.filter, group.deliver as never, (err?: Error | null) => err ? reject(err) : resolve())
    })
    return group
  }

  /**
   * The connection leaves the group: it unsubscribed, or it closed (`sessionStays`: its
   * session is kept, so it is an offline member). A group nobody is a member of any more
   * ends its route.
   */
  leave (conn: Connection, key: string, sessionStays: boolean): void {
    const group = this.groups.get(key)
    if (group === undefined) return
    group.remove(conn, sessionStays)
    if (group.empty) this.end(group)
  }

  /** A stored session was deleted (clean start, expiry): it is no longer an offline member. */
  forgetSession (clientId: string): void {
    this.factory.forgetSession(clientId)
    for (const group of this.groups.values()) {
      if (!group.offline.delete(clientId)) continue
      if (group.empty) this.end(group)
    }
  }

  private end (group: SharedGroupLike): void {
    this.groups.delete(group.key)
    this.broker.unsubscribe(group.filter, group.deliver as never, noop)
    group.end()
  }

  /** Messages a leaving member had not acknowledged go to other members of their group. */
  redispatch (from: Connection, unacknowledged: ReadonlyArray<{ packet: OutgoingPublish, cb: () => void }>): void {
    for (const { packet, cb } of unacknowledged) {
      const origin = packet.shared
      if (origin === undefined) {
        cb()
        continue
      }
      this.metrics.sharedRedispatched.inc({ group: origin.group.key })
      origin.group.redispatched++
      origin.group.redispatch(origin, cb, from)
    }
  }

  close (timeoutMs: number): Promise<void> {
    return this.factory.close(timeoutMs)
  }

  /** Members, backlog and deliveries per group (for /metrics and $SYS). */
  figures (): SharedGroupFigures[] {
    return [...this.groups.values()].map(g => ({
      key: g.key,
      group: parseShared(g.key)?.group ?? '',
      filter: g.filter,
      members: g.members.length,
      offline: g.offline.size,
      backlog: g.backlogSize(),
      delivered: g.delivered,
      redispatched: g.redispatched,
      perMember: g.members.map(m => ({ clientId: m.conn.id, delivered: m.delivered }))
    }))
  }
}

function noop (): void {}
