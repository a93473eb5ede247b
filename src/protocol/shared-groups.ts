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
// session (MQTT 5 4.8.2: SHOULD send it to another client). With no member left on this node
// the message is dropped and counted (reason shared_no_member).
import type { Aedes } from 'aedes'
import type { CoreMetrics } from '../metrics.js'
import type { Connection } from './connection.js'
import { deliverShared } from './deliver.js'
import type { OutgoingPublish, RoutedPacket, Subscription } from './types.js'

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

/** What a shared delivery carries back to its group when the member leaves before acknowledging it. */
export interface SharedOrigin { group: SharedGroup, message: RoutedPacket }

export class SharedGroup {
  readonly members: Member[] = []
  private next = 0
  private stickyMember: Member | null = null

  constructor (private readonly metrics: CoreMetrics, readonly key: string, readonly filter: string, private readonly strategy: SharedStrategy) {}

  /** The router's listener for the group's filter. */
  readonly deliver = (message: RoutedPacket, cb: () => void): void => this.dispatch(message, cb, null)

  /** Sends the message to one member (not `except`), or drops it when none is left. */
  dispatch (message: RoutedPacket, cb: () => void, except: Connection | null): void {
    const member = this.choose(message, except)
    if (member === null) {
      this.metrics.dropped.inc({ reason: 'shared_no_member' })
      return cb()
    }
    deliverShared(member.conn, message, member.sub, { group: this, message }, cb)
  }

  private choose (message: RoutedPacket, except: Connection | null): Member | null {
    const live = this.members.filter(m => m.conn !== except && !m.conn.closed)
    if (live.length === 0) return null
    const withRoom = message.qos === 0 ? live : live.filter(m => m.conn.outbound.room() > 0)
    const candidates = withRoom.length > 0 ? withRoom : live
    switch (this.strategy) {
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

  /** True when the group has no member left. */
  remove (conn: Connection): boolean {
    const i = this.members.findIndex(m => m.conn === conn)
    if (i !== -1) this.members.splice(i, 1)
    if (this.stickyMember?.conn === conn) this.stickyMember = null
    return this.members.length === 0
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

  constructor (private readonly broker: Aedes, private readonly metrics: CoreMetrics, private readonly strategy: SharedStrategy) {}

  /** Makes the connection a member; the first member routes the group's filter to it. */
  async join (conn: Connection, sub: Subscription): Promise<void> {
    const parsed = parseShared(sub.topic)
    if (parsed === null) throw new Error(`not a shared subscription: ${sub.topic}`)
    let group = this.groups.get(sub.topic)
    if (group === undefined) {
      group = new SharedGroup(this.metrics, sub.topic, parsed.filter, this.strategy)
      this.groups.set(sub.topic, group)
      const routed = group
      await new Promise<void>((resolve, reject) => {
        this.broker.subscribe(routed.filter, routed.deliver as never, (err?: Error | null) => err ? reject(err) : resolve())
      })
    }
    group.add(conn, sub)
  }

  /** The connection leaves the group; the last member's leaving ends the group's route. */
  leave (conn: Connection, key: string): void {
    const group = this.groups.get(key)
    if (group === undefined || !group.remove(conn)) return
    this.groups.delete(key)
    this.broker.unsubscribe(group.filter, group.deliver as never, noop)
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
      origin.group.dispatch(origin.message, cb, from)
    }
  }

  /** Members per group (for metrics and listings). */
  sizes (): Array<{ key: string, members: number }> {
    return [...this.groups.values()].map(g => ({ key: g.key, members: g.members.length }))
  }
}

function noop (): void {}
