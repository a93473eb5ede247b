// Shared groups that span the cluster nodes sharing one Redis (--storage redis): each message
// goes to one member cluster-wide. The group's messages pass through a Redis Stream of its own
// (shared-stream.ts):
//  - Hand-off: every node that knows the group (a member here, a persistent member restored
//    from the stored markers, or announced by the node where a member joined) gets each
//    matching message from its router and runs one script that adds it to the stream unless
//    a node did already. The router's callback, and so the publisher's PUBACK, waits for it.
//  - Consumption: a node with a member connected reads what no node has read yet (as many as
//    its members have room for) and gives each entry to a member by --shared-strategy: across
//    nodes, whichever node has room pulls. The entry is acknowledged in Redis (and deleted)
//    when the member's PUBACK/PUBCOMP comes. A member that leaves first: its entries go to
//    another member here, or back to the end of the stream for any node.
//  - Node death: entries a node read and did not acknowledge for --shared-claim-timeout are
//    claimed by another node with a member connected and delivered again (at least once
//    across a node's death; counted in swallow_shared_redispatched_total). A live node keeps
//    its members' entries fresh, so they are not claimed from it.
//  - Nobody connected: the stream is the group's durable backlog (QoS 1/2, up to
//    --shared-backlog entries, when a member is a persistent session); the first member back
//    on any node reads it, in order. No member anywhere: dropped, counted, the stream deleted.
// Strategies across nodes (the README's Shared subscriptions section has the details):
//  - round_robin, random, least_inflight: among the members of the node that reads.
//  - local: the publishing node, when a member of its has room, has the hand-off script read
//    the entry for itself as it adds it (XADD, then XREADGROUP as its consumer); the other
//    nodes defer to it while it holds a lease (its publisher's PUBACK waits for its own).
//  - sticky, hash_*: nodes record their connected members in Redis; the script picks one
//    among those of nodes holding a lease (when no older entry waits), names it in the entry
//    and reads the entry as that member's node's consumer; that node finds it in its pending
//    list (pullAssigned) and gives it to that member while it has room, else to another.
//  A read entry is in one node's pending list: the guarantees of any read entry hold (one
//  member cluster-wide, kept fresh, claimed after that node's death, PUBACK after the script).
import type { Logger } from '../logger.js'
import type { CoreMetrics } from '../metrics.js'
import type { ClusterEmitter } from '../cluster-emitter.js'
import type { Connection } from './connection.js'
import { deliverShared } from './deliver.js'
import type { GroupFactory } from './shared-groups.js'
import { MemberSet, type Member, type SharedGroupLike, type SharedKey, type SharedOrigin, type SharedSettings } from './shared-members.js'
import { HandOff, type HandOffMode, type HandOffResult, type SharedStreams, type StreamEntry } from './shared-stream.js'
import type { RoutedPacket } from './types.js'

/**
 * Tells the other nodes, through the route stream, that a member joined a group: they route
 * it too, so that whichever node a message is published on hands it off before its PUBACK
 * (also once the member's node is dead). `$swallow/` topics reach no client.
 */
const JOINED_TOPIC = '$swallow/shared/joined'
/** Entries read per round at most. */
const MAX_BATCH = 500
/** Every this many upkeep rounds, the consumers of nodes gone for PRUNE_AFTER claim timeouts are forgotten. */
const PRUNE_EVERY = 30
const PRUNE_AFTER = 10
/** How often a node with a member connected reads its groups' streams unprompted (entries another node gave back). */
const PULL_INTERVAL_MS = 1000

export interface ClusterSettings extends SharedSettings {
  /** --shared-claim-timeout: entries another node read and did not acknowledge this long are claimed. */
  claimTimeout: number
}

/** What the groups of this node share: Redis, the settings, one timer. */
interface Node {
  streams: SharedStreams
  settings: ClusterSettings
  metrics: CoreMetrics
  log: Logger
  /** Groups with a member connected here (leased, pulled, kept fresh by the timer). */
  active: Set<ClusterGroup>
  /** Every group of this node (the timer reads their depth for /metrics). */
  all: Set<ClusterGroup>
  /** This broker's id, in the messages published here (brokerId). */
  brokerId: string
  /** Acknowledgements and give-backs on their way to Redis (a graceful stop waits for them). */
  pending: Set<Promise<void>>
}

/** Keeps `work` in node.pending until it settles; never rejects (a failure is logged). */
function track (node: Node, work: Promise<unknown>, group: string, failure: string): void {
  const done: Promise<void> = work.then(() => {}, err => node.log.warn({ err, group }, failure)).finally(() => node.pending.delete(done))
  node.pending.add(done)
}

class ClusterGroup extends MemberSet implements SharedGroupLike {
  /** Entries with a member of this node (not acknowledged yet), by entry id. */
  private readonly held = new Map<string, Connection>()
  /** Entries read and not handed to a member yet (behind a member whose queue is full). */
  private readonly reading = new Set<string>()
  /** Entries acknowledged or given back, their write to Redis on its way. */
  private readonly settling = new Set<string>()
  private pulling = false
  private pullAgain = false
  /** A hand-off found no member on any node (until one joins here). */
  private nobody = false
  private depth = 0
  private warnedFull = false
  private rounds = 0
  private claimCursor = '0-0'
  private assignedCursor = '0-0'

  /** The filter begins with a wildcard: the router still hands it $-topics (MQTT-4.7.2-1 says no). */
  private readonly wildcardFirst: boolean

  readonly key: string
  readonly filter: string

  constructor (private readonly node: Node, { key, group, filter }: SharedKey, private readonly gone: (group: SharedGroupLike) => void) {
    super(node.settings.strategy(group))
    this.key = key
    this.filter = filter
    this.wildcardFirst = filter.startsWith('#') || filter.startsWith('+')
  }

  readonly deliver = (message: RoutedPacket, cb: () => void): void => {
    // Not worth a Redis round trip ($SYS, the cluster's own messages): no member would get it.
    if (this.wildcardFirst && message.topic.startsWith('$')) return cb()
    // A message from another node was acknowledged there already (after its own hand-off when
    // that node knew the group): the route stream's reader does not wait. Hand-offs still
    // reach Redis in order, over one connection.
    const remote = message.brokerId !== undefined && message.brokerId !== this.node.brokerId
    // Who reads the entry (the strategies across nodes, above); local: the others defer to the publishing node.
    const deferTo = this.strategy === 'local' && remote ? message.brokerId ?? '' : ''
    this.node.streams.handOff(this.key, message, this.handOffMode(message, remote), deferTo, this.hashKey(message)).then(({ result, taken }) => {
      // sticky, hash_*: read from the pending list like the entries other nodes picked for this one (one path, no race).
      if (taken !== null && !this.picksMember) this.dispatch(taken).catch(err => this.warn(err, 'could not deliver a shared group\'s message'))
      else this.handedOff(result)
      if (!remote) cb()
    }, err => {
      this.node.log.error({ err, group: this.key }, 'could not hand a message to a shared group\'s stream')
      if (!remote) cb()
    })
    if (remote) cb()
  }

  /** Who reads the entry: any node (''), this one (local, with room here), or the member the script picks cluster-wide. */
  private handOffMode (message: RoutedPacket, remote: boolean): HandOffMode {
    switch (this.strategy) {
      case 'local': return !remote && this.hasRoom(message) ? 'take' : ''
      case 'sticky': return 'sticky'
      case 'hash_clientid':
      case 'hash_topic': return 'hash'
      default: return ''
    }
  }

  private hashKey (message: RoutedPacket): string {
    return this.strategy === 'hash_topic' ? message.topic : this.strategy === 'hash_clientid' ? message.clientId ?? '' : ''
  }

  /** The script picks the member (sticky, hash_*): the entries it read for this node's members are in its pending list. */
  private get picksMember (): boolean {
    return this.strategy === 'sticky' || this.strategy === 'hash_clientid' || this.strategy === 'hash_topic'
  }

  private handedOff (result: HandOffResult): void {
    if (result === HandOff.added || result === HandOff.seen || result === HandOff.assigned) return this.pull()
    if (result === HandOff.full) {
      this.node.metrics.dropped.inc({ reason: 'shared_backlog_full' })
      if (!this.warnedFull) this.node.log.warn({ group: this.key, limit: this.node.settings.backlogLimit }, 'shared group stream full (--shared-backlog): messages for it are dropped until a member takes some')
      this.warnedFull = true
      return
    }
    this.node.metrics.dropped.inc({ reason: 'shared_no_member' })
    if (result === HandOff.noMember) {
      this.nobody = true
      this.gone(this)
    }
  }

  async joined (conn: Connection): Promise<void> {
    this.nobody = false
    if (!conn.clean) await this.node.streams.addPersistent(this.key, conn.id)
    if (this.picksMember && conn.connected) await this.node.streams.register(this.key, conn.id)
    // Leased before the SUBACK: a message published right after it is kept for this member.
    if (conn.connected) await this.node.streams.lease(this.key, this.node.settings.claimTimeout)
  }

  memberReady (conn: Connection): void {
    this.offline.delete(conn.id)
    if (this.picksMember) this.node.streams.register(this.key, conn.id).catch(err => this.warn(err, 'could not record a connected member'))
    if (!this.node.active.has(this)) {
      this.node.active.add(this)
      this.node.streams.lease(this.key, this.node.settings.claimTimeout).catch(err => this.warn(err, 'could not record a connected member'))
    }
    this.pull()
  }

  override remove (conn: Connection, sessionStays: boolean): void {
    super.remove(conn, sessionStays)
    if (this.picksMember) track(this.node, this.node.streams.unregister(this.key, conn.id), this.key, 'could not record a member leaving')
    if (sessionStays) this.nobody = false
    // Unsubscribed (the connection goes on): no longer a member its messages are kept for.
    if (!conn.closed && !conn.clean) this.node.streams.removePersistent(this.key, conn.id).catch(err => this.warn(err, 'could not record a member leaving'))
    // After the connection's unacknowledged entries were redispatched: what it still holds is
    // QoS 2 past PUBREC, the member's now.
    if (conn.closed) queueMicrotask(() => { for (const [id, holder] of this.held) if (holder === conn) this.acknowledge(id) })
    if (this.node.active.has(this) && !this.members.some(m => m.conn.connected && m.conn !== conn)) this.deactivate()
  }

  private deactivate (): void {
    this.node.active.delete(this)
    track(this.node, this.node.streams.release(this.key), this.key, 'could not record that no member is connected here')
  }

  get empty (): boolean {
    return this.members.length === 0 && this.nobody
  }

  settled (origin: SharedOrigin): void {
    if (origin.entryId === undefined) return
    this.acknowledge(origin.entryId)
    this.pull()
  }

  redispatch (origin: SharedOrigin, cb: () => void, from: Connection): void {
    const entry = { id: origin.entryId as string, message: origin.message }
    const member = this.choose(entry.message, from)
    if (member === null) {
      this.giveBack(entry)
      return cb()
    }
    this.hand(entry, member).then(cb, cb)
  }

  /** Reads what no node has read yet, as much as the members here have room for. */
  pull (): void {
    if (this.pulling) {
      this.pullAgain = true
      return
    }
    this.pulling = true
    this.pullLoop()
      .catch(err => this.warn(err, 'could not read a shared group\'s stream; retried shortly'))
      .finally(() => {
        this.pulling = false
        if (this.pullAgain) this.pull()
      })
  }

  /** From the timer: read what waits; on `upkeep` rounds also keep this node's entries fresh and claim a dead node's. */
  async tick (upkeep: boolean): Promise<void> {
    if (!upkeep) return this.node.active.has(this) ? this.pull() : undefined
    if (this.node.active.has(this)) await this.upkeep()
    this.depth = await this.node.streams.depth(this.key)
  }

  private async upkeep (): Promise<void> {
    const { streams, settings } = this.node
    await streams.lease(this.key, settings.claimTimeout)
    await streams.touch(this.key, [...this.held.keys(), ...this.reading])
    const room = this.room()
    if (room > 0) {
      const { entries, next } = await streams.claim(this.key, settings.claimTimeout, room, this.claimCursor)
      this.claimCursor = next
      for (const entry of entries) {
        if (this.held.has(entry.id) || this.reading.has(entry.id)) continue
        this.node.metrics.sharedRedispatched.inc({ group: this.key })
        this.redispatched++
        await this.dispatch(entry)
      }
    }
    this.pull()
    if (++this.rounds % PRUNE_EVERY === 0) await streams.prune(this.key, PRUNE_AFTER * settings.claimTimeout)
  }

  private async pullLoop (): Promise<void> {
    for (;;) {
      this.pullAgain = false
      const room = this.room()
      if (room <= 0) return
      if (this.picksMember) await this.pullAssigned(room)
      const entries = await this.node.streams.read(this.key, room)
      for (const entry of entries) this.reading.add(entry.id)
      for (const entry of entries) {
        await this.dispatch(entry)
        this.reading.delete(entry.id)
      }
      if (entries.length < room) return
    }
  }

  private hasRoom (message: RoutedPacket): boolean {
    return this.members.some(m => m.conn.connected && (message.qos === 0 || m.conn.outbound.room() > 0))
  }

  /** Entries the hand-off read for this node's members (after the last seen; those held here are skipped). */
  private async pullAssigned (room: number): Promise<void> {
    const entries = await this.node.streams.assigned(this.key, room, this.assignedCursor)
    for (const entry of entries) {
      this.assignedCursor = entry.id
      if (this.held.has(entry.id) || this.reading.has(entry.id) || this.settling.has(entry.id)) continue
      this.reading.add(entry.id)
      await this.dispatch(entry)
      this.reading.delete(entry.id)
    }
  }

  private room (): number {
    let room = 0
    for (const m of this.members) if (m.conn.connected) room += Math.max(0, m.conn.outbound.room())
    return Math.min(room, MAX_BATCH)
  }

  private async dispatch (entry: StreamEntry): Promise<void> {
    const member = entry.member !== undefined ? this.chooseNamed(entry.message, entry.member) : this.choose(entry.message, null)
    if (member === null) return this.giveBack(entry)
    await this.hand(entry, member)
  }

  private hand (entry: StreamEntry, member: Member): Promise<void> {
    this.held.set(entry.id, member.conn)
    return new Promise(resolve => {
      deliverShared(member.conn, entry.message, member.sub, { group: this, message: entry.message, entryId: entry.id }, awaitsAck => {
        if (awaitsAck !== true) this.acknowledge(entry.id) // sent at QoS 0, or not sendable (expired, refused)
        resolve()
      })
    })
  }

  private giveBack (entry: StreamEntry): void {
    this.held.delete(entry.id)
    // Failed: the entry stays with this node unacknowledged, and is claimed after the timeout.
    this.settle(entry.id, this.node.streams.giveBack(this.key, entry), 'could not give a shared group\'s message back to its stream')
  }

  private acknowledge (id: string): void {
    if (!this.held.delete(id)) return
    this.warnedFull = false
    this.settle(id, this.node.streams.ack(this.key, id), 'could not acknowledge a shared group\'s message in its stream; it may be delivered again')
  }

  /** Until the write is done, a read of this node's pending list sent before it may still return the entry: skipped. */
  private settle (id: string, write: Promise<void>, failure: string): void {
    this.settling.add(id)
    track(this.node, write.finally(() => this.settling.delete(id)), this.key, failure)
  }

  private warn (err: unknown, msg: string): void {
    this.node.log.warn({ err, group: this.key }, msg)
  }

  async restore (): Promise<void> {
    this.depth = await this.node.streams.depth(this.key)
  }

  backlogSize (): number {
    return this.depth
  }

  end (): void {
    this.node.all.delete(this)
    if (this.node.active.has(this)) this.deactivate()
  }
}

export interface ClusterGroupParts {
  streams: SharedStreams
  brokerId: string
  emitter: ClusterEmitter
  settings: ClusterSettings
  metrics: CoreMetrics
  log: Logger
  /** A member joined a group on another node: this node routes it too (SharedGroups.learn). */
  learn: (key: string) => Promise<void>
}

/** Groups spanning the nodes on one Redis; `close` stops the timer and waits for what is on its way to Redis. */
export function clusterGroups ({ streams, brokerId, emitter, settings, metrics, log, learn }: ClusterGroupParts): GroupFactory {
  const node: Node = { streams, brokerId, settings, metrics, log, active: new Set(), all: new Set(), pending: new Set() }
  emitter.on(JOINED_TOPIC, (packet, cb) => { learn(packet.payload.toString()).then(cb, err => { log.warn({ err }, 'could not route a shared group joined on another node'); cb() }) })
  // Upkeep (leases, freshness, claims) every third of the claim timeout; reads more often.
  const upkeepEvery = Math.max(100, Math.floor(settings.claimTimeout / 3))
  let ticking = false
  let lastUpkeep = 0
  const timer = setInterval(() => {
    if (ticking) return
    ticking = true
    const upkeep = Date.now() - lastUpkeep >= upkeepEvery
    if (upkeep) lastUpkeep = Date.now()
    Promise.all([...node.all].map(g => g.tick(upkeep).catch(err => log.warn({ err, group: g.key }, 'shared group upkeep failed; retried shortly'))))
      .finally(() => { ticking = false })
  }, Math.min(PULL_INTERVAL_MS, upkeepEvery))
  timer.unref()
  return {
    create: (shared, gone) => {
      const group = new ClusterGroup(node, shared, gone)
      node.all.add(group)
      return group
    },
    forgetSession: clientId => { streams.forget(clientId).catch(err => log.warn({ err, clientId }, 'could not remove an ended session from its shared groups')) },
    joined: key => { emitter.emit({ cmd: 'publish', topic: JOINED_TOPIC, payload: Buffer.from(key), qos: 1, retain: false, dup: false }, err => { if (err) log.warn({ err, group: key }, 'could not announce a shared group to the other nodes') }) },
    close: async timeoutMs => {
      clearInterval(timer)
      let timeout: NodeJS.Timeout | undefined
      const gaveUp = new Promise<void>(resolve => { timeout = setTimeout(resolve, timeoutMs) })
      await Promise.race([Promise.all(node.pending), gaveUp])
      clearTimeout(timeout)
    }
  }
}
