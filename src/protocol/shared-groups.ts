// Shared subscriptions ($share/<group>/<filter>, MQTT 5 section 4.8.2, accepted from MQTT
// 3.1.1 clients too): each message matching the filter goes to one member of the group.
// A group holds one router subscription to its filter on this node; its members are the
// connections subscribed to it here. The choice, per message:
//  - among the connected members with room (a QoS 0 message: all of them; QoS 1/2: a free
//    place in the in-flight window), by the strategy (--shared-strategy);
//  - if no member has room, by the strategy among all: that member's queue holds the
//    message and back-pressure reaches the publisher, as for any full subscriber.
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
import type { OutgoingPublish, Persistence, RoutedPacket, Subscription } from './types.js'

export const SHARE_PREFIX = '$share/'

export type SharedStrategy = 'round_robin' | 'random' | 'sticky' | 'hash_clientid' | 'hash_topic' | 'least_inflight'
export const SHARED_STRATEGIES: readonly SharedStrategy[] = ['round_robin', 'random', 'sticky', 'hash_clientid', 'hash_topic', 'least_inflight']

/** `$share/<group>/<filter>` split, or null when it is not a valid shared filter (MQTT-4.8.2-1, -2). */
export function parseShared (filter: string): { group: string, filter: string } | null {
  if (!filter.startsWith(SHARE_PREFIX)) return null
  const slash = filter.indexOf('/', SHARE_PREFIX.length)
  if (slash === -1) return null
  const group = filter.slice(SHARE_PREFIX.length, slash)
  const inner = filter.slice(slash + 1)
  if (group === '' || /[+#]/.test(group) || inner === '') return null
  return { group, filter: inner }
}

interface Member { conn: Connection, sub: Subscription }

/** What a shared delivery carries back to its group: its acknowledgement, or the message when the member leaves first. */
export interface SharedOrigin {
  group: SharedGroup
  message: RoutedPacket
  /** Its id in the group's backlog, for a message that waited there. */
  backlogId?: number
}

export interface SharedSettings { strategy: SharedStrategy, backlogLimit: number }

export class SharedGroup {
  readonly members: Member[] = []
  /** Client ids of persistent-session members that are not connected (they come back as members). */
  readonly offline = new Set<string>()
  readonly backlog: SharedBacklog
  private next = 0
  private stickyMember: Member | null = null

  constructor (private readonly metrics: CoreMetrics, private readonly log: Logger, persistence: Persistence, readonly key: string, readonly filter: string, private readonly settings: SharedSettings) {
    this.backlog = new SharedBacklog(persistence, key, settings.backlogLimit, metrics, log)
  }

  /** The router's listener for the group's filter. */
  readonly deliver = (message: RoutedPacket, cb: () => void): void => this.dispatch(message, cb, null)

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

  private choose (message: RoutedPacket, except: Connection | null): Member | null {
    // Connected: a member restored by a CONNECT gets nothing before its CONNACK.
    const live = this.members.filter(m => m.conn !== except && m.conn.connected)
    if (live.length === 0) return null
    const withRoom = message.qos === 0 ? live : live.filter(m => m.conn.outbound.room() > 0)
    const candidates = withRoom.length > 0 ? withRoom : live
    switch (this.settings.strategy) {
      case 'random': return candidates[Math.floor(Math.random() * candidates.length)]
      case 'hash_clientid': return candidates[hash(message.clientId ?? '') % candidates.length]
      case 'hash_topic': return candidates[hash(message.topic) % candidates.length]
      case 'least_inflight': return candidates.reduce((a, b) => b.conn.outbound.room() > a.conn.outbound.room() ? b : a)
      case 'sticky':
        if (this.stickyMember === null || !candidates.includes(this.stickyMember)) this.stickyMember = candidates[0]
        return this.stickyMember
      default: return candidates[this.next++ % candidates.length]
    }
  }

  add (conn: Connection, sub: Subscription): void {
    const existing = this.members.find(m => m.conn === conn)
    if (existing !== undefined) existing.sub = sub
    else this.members.push({ conn, sub })
  }

  /** The member's connection is live (CONNACK sent): it is no longer offline, and the backlog goes out. */
  memberReady (conn: Connection): void {
    this.offline.delete(conn.id)
    if (this.backlog.size > 0) this.drainBacklog()
  }

  remove (conn: Connection, sessionStays: boolean): void {
    const i = this.members.findIndex(m => m.conn === conn)
    if (i !== -1) this.members.splice(i, 1)
    if (this.stickyMember?.conn === conn) this.stickyMember = null
    if (sessionStays) this.offline.add(conn.id)
  }

  /** No member at all, connected or not. */
  get empty (): boolean {
    return this.members.length === 0 && this.offline.size === 0
  }
}

/** FNV-1a: a stable member for the same publisher or topic while the members stay the same. */
function hash (text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/** The shared groups of this node, by `$share/<group>/<filter>`. */
export class SharedGroups {
  private readonly groups = new Map<string, SharedGroup>()

  constructor (private readonly broker: Aedes, private readonly persistence: Persistence, private readonly metrics: CoreMetrics,
    private readonly log: Logger, private readonly settings: SharedSettings) {}

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
    await Promise.all([...this.groups.values()].map(g => g.backlog.restore()))
  }

  /** Makes the connection a member; the first member routes the group's filter to it. */
  async join (conn: Connection, sub: Subscription): Promise<void> {
    const group = await this.groupFor(sub.topic)
    if (group === null) throw new Error(`not a shared subscription: ${sub.topic}`)
    group.add(conn, sub)
    if (conn.connected) group.memberReady(conn)
  }

  /** CONNACK sent to a connection whose restored session holds shared subscriptions. */
  connected (conn: Connection): void {
    for (const key in conn.subscriptions) this.groups.get(key)?.memberReady(conn)
  }

  private async groupFor (key: string): Promise<SharedGroup | null> {
    const existing = this.groups.get(key)
    if (existing !== undefined) return existing
    const parsed = parseShared(key)
    if (parsed === null) return null
    const group = new SharedGroup(this.metrics, this.log, this.persistence, key, parsed.filter, this.settings)
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
    for (const group of this.groups.values()) {
      if (!group.offline.delete(clientId)) continue
      if (group.empty) this.end(group)
    }
  }

  private end (group: SharedGroup): void {
    this.groups.delete(group.key)
    this.broker.unsubscribe(group.filter, group.deliver as never, noop)
    if (group.backlog.size > 0) group.backlog.clear().catch(err => this.log.warn({ err, group: group.key }, 'could not delete the backlog of a shared group nobody is a member of'))
  }

  /** Messages a leaving member had not acknowledged go to other members of their group. */
  redispatch (from: Connection, unacknowledged: ReadonlyArray<{ packet: OutgoingPublish, cb: () => void }>): void {
    for (const { packet, cb } of unacknowledged) {
      const origin = packet.shared
      if (origin === undefined) {
        cb()
        continue
      }
      this.metrics.sharedRedispatched.inc()
      origin.group.dispatch(origin.message, cb, from, origin.backlogId)
    }
  }

  /** Members and backlog per group (for metrics and listings). */
  sizes (): Array<{ key: string, members: number, offline: number, backlog: number }> {
    return [...this.groups.values()].map(g => ({ key: g.key, members: g.members.length, offline: g.offline.size, backlog: g.backlog.size }))
  }
}

function noop (): void {}
