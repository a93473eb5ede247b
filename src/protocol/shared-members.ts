// What every shared group ($share/<group>/<filter>) has, on one node or across a cluster:
// its members on this node and the choice of one of them for a message (--shared-strategy):
//  - among the connected members with room (a QoS 0 message: all of them; QoS 1/2: a free
//    place in the in-flight window), by the strategy;
//  - if no member has room, by the strategy among all: that member's queue holds the
//    message and back-pressure reaches the publisher, as for any full subscriber.
// The groups themselves: shared-groups.ts (one node), shared-cluster.ts (nodes sharing Redis).
import type { Connection } from './connection.js'
import type { RoutedPacket, Subscription } from './types.js'

export const SHARE_PREFIX = '$share/'

export type SharedStrategy = 'round_robin' | 'random' | 'sticky' | 'hash_clientid' | 'hash_topic' | 'least_inflight' | 'local'
export const SHARED_STRATEGIES: readonly SharedStrategy[] = ['round_robin', 'random', 'sticky', 'hash_clientid', 'hash_topic', 'least_inflight', 'local']

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

export interface Member {
  conn: Connection
  sub: Subscription
  /** Messages given to it since it joined the group on this node (or reconnected). */
  delivered: number
}

/**
 * One group's figures on this node, for /metrics and $SYS. Per-member counts go to $SYS
 * only: as a Prometheus label a client id would make a series per worker ever seen.
 */
export interface SharedGroupFigures {
  key: string
  group: string
  filter: string
  members: number
  offline: number
  backlog: number
  /** Messages given to a member since the group was made on this node (a redispatch counts again). */
  delivered: number
  redispatched: number
  perMember: Array<{ clientId: string, delivered: number }>
}

/** What a shared delivery carries back to its group: its acknowledgement, or the message when the member leaves first. */
export interface SharedOrigin {
  group: SharedGroupLike
  message: RoutedPacket
  /** Its id in a one-node group's backlog, for a message that waited there. */
  backlogId?: number
  /** Its entry id in a cluster group's Redis Stream. */
  entryId?: string
}

export interface SharedSettings {
  /** The strategy of a group by its name: its own (the sharedGroups option), else --shared-strategy. */
  strategy: (group: string) => SharedStrategy
  backlogLimit: number
}

/** A shared filter split (parseShared), with the registry's key for it: `$share/<group>/<filter>`. */
export interface SharedKey { key: string, group: string, filter: string }

/** A group as the registry of this node's groups (shared-groups.ts SharedGroups) uses it. */
export interface SharedGroupLike {
  readonly key: string
  readonly filter: string
  readonly members: readonly Member[]
  /** Messages given to a member, and given again after a member left (or its node died). */
  readonly delivered: number
  redispatched: number
  /** Client ids of persistent-session members known to be offline. */
  readonly offline: Set<string>
  /** The router's listener for the group's filter. */
  readonly deliver: (message: RoutedPacket, cb: () => void) => void
  add: (conn: Connection, sub: Subscription) => void
  /** After add(): what must be in place before the SUBACK (cluster: the member is known in Redis). */
  joined: (conn: Connection) => Promise<void>
  memberReady: (conn: Connection) => void
  remove: (conn: Connection, sessionStays: boolean) => void
  /** Nobody left to deliver to: the registry ends the group. */
  readonly empty: boolean
  /** A member acknowledged a delivery (or refused it). */
  settled: (origin: SharedOrigin) => void
  /** A member left before acknowledging it: another member, not `from`, gets it. */
  redispatch: (origin: SharedOrigin, cb: () => void, from: Connection) => void
  /** Counts what an earlier run left. */
  restore: () => Promise<void>
  backlogSize: () => number
  /** The registry dropped the group. */
  end: () => void
}

/** The members of one group on this node and the strategy that picks one per message. */
export class MemberSet {
  readonly members: Member[] = []
  readonly offline = new Set<string>()
  delivered = 0
  redispatched = 0
  private next = 0
  private stickyMember: Member | null = null

  constructor (protected readonly strategy: SharedStrategy) {}

  /** The member for this message (counted as delivered to it), or null when none is connected. */
  choose (message: RoutedPacket, except: Connection | null): Member | null {
    const member = this.pick(message, except)
    if (member !== null) {
      member.delivered++
      this.delivered++
    }
    return member
  }

  /** The member named (cluster: picked by the hand-off) while it is connected here with room; else by the strategy. */
  chooseNamed (message: RoutedPacket, clientId: string): Member | null {
    const named = this.members.find(m => m.conn.id === clientId && m.conn.connected)
    if (named === undefined || (message.qos > 0 && named.conn.outbound.room() <= 0)) return this.choose(message, null)
    named.delivered++
    this.delivered++
    return named
  }

  private pick (message: RoutedPacket, except: Connection | null): Member | null {
    // Connected: a member restored by a CONNECT gets nothing before its CONNACK.
    const live = this.members.filter(m => m.conn !== except && m.conn.connected)
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
      // round_robin; also local, whose preference for this node is the cluster group's (shared-cluster.ts).
      default: return candidates[this.next++ % candidates.length]
    }
  }

  add (conn: Connection, sub: Subscription): void {
    const existing = this.members.find(m => m.conn === conn)
    if (existing !== undefined) existing.sub = sub
    else this.members.push({ conn, sub, delivered: 0 })
  }

  remove (conn: Connection, sessionStays: boolean): void {
    const i = this.members.findIndex(m => m.conn === conn)
    if (i !== -1) this.members.splice(i, 1)
    if (this.stickyMember?.conn === conn) this.stickyMember = null
    if (sessionStays) this.offline.add(conn.id)
  }
}

/** FNV-1a: a stable member for the same publisher or topic while the members stay the same. */
function hash (text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h >>> 0
}
