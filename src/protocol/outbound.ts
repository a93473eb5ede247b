// Messages from the broker to one client: the in-flight window, the queue behind it, packet
// ids, and back-pressure on the publishers.
//  - At most `window` QoS 1/2 messages are unacknowledged (--max-inflight, and never more
//    than the client's MQTT 5 Receive Maximum, MQTT-3.3.4-9).
//  - Behind them up to --max-queued wait in memory. When that queue is full too
//    (--queue-full-policy):
//      isolate (default): a persistent session's further live messages stay only in its
//        stored queue ("spilled", spilled-queue.ts) and are read back from there, in order,
//        as it catches up; a clean session's wait while it acknowledges (see watchStall) and are dropped
//        and counted after STALL_MS without. One frozen subscriber does not hold up the
//        publishers and the others on its topics (a clean one: once, for STALL_MS).
//      wait: the router's callback is held, so the publishers' PUBACKs wait.
//    Deliveries whose sender waits for room (retained, shared groups) always wait. A
//    client that acknowledges nothing for --slow-client-timeout while full is disconnected
//    (a persistent session keeps its messages in storage).
//  - QoS 0: while more than --max-queued-bytes wait in the socket, deliveries wait for it to
//    drain, one second at most; then QoS 0 messages to it are dropped (counted) until it
//    catches up.
// For a persistent session the messages are already in its stored queue (the publish route
// stores them before routing); sending one records its packet id there, an acknowledgement
// deletes it.
import { Fifo } from './fifo.js'
import { SpilledQueue, type ReadUnsent } from './spilled-queue.js'
import type { OutgoingPublish, Persistence } from './types.js'

export type QueueFullPolicy = 'isolate' | 'wait'
export const QUEUE_FULL_POLICIES: readonly QueueFullPolicy[] = ['isolate', 'wait']

/**
 * How a QoS 1/2 delivery reaches the outbound side:
 *  - stored: a live message of a persistent session, already in its stored queue;
 *  - live: a live message of a clean session (in memory only);
 *  - paced: its sender waits for room (retained messages for a new subscription, a shared
 *    group's choice, a restored session's stored queue): never dropped nor spilled.
 */
export type DeliveryKind = 'stored' | 'live' | 'paced'

export interface OutboundLimits {
  maxInflight: number
  maxQueued: number
  queueFullPolicy: QueueFullPolicy
  maxQueuedBytes: number
  slowClientTimeout: number
}

/** What the outbound side needs of its connection. */
export interface OutboundHost {
  readonly id: string
  /** True when nothing of this session is stored (its in-flight state lives here only). */
  readonly clean: boolean
  readonly closed: boolean
  /** Encodes and writes a packet (a Buffer: already encoded); false if it was not sent (over the client's Maximum Packet Size). */
  writePacket: (packet: object | Buffer) => boolean
  /** Bytes written to the socket and not yet sent. */
  socketBacklog: () => number
  whenDrained: (cb: () => void) => void
  persistence: Persistence
  /** The client acknowledged nothing for --slow-client-timeout with its queue full. */
  tooSlow: () => void
  /** The queue is full: a router callback is held, or the message spilled or dropped (`firstOfEpisode`: it was not full before). */
  queueFull: (firstOfEpisode: boolean, inflight: number, queued: number, overflow: Overflow) => void
  /** The held router callbacks were all released: the queue has room again. */
  caughtUp: () => void
  /** One QoS 0 message was dropped because the client does not read (`firstOfEpisode`: the first since it last caught up). */
  droppedQoS0: (firstOfEpisode: boolean) => void
  /** The next part of a spilled queue (spilled-queue.ts). */
  readUnsent: ReadUnsent
  /** A storage write failed and delivery goes on without it (Connection.storageFailed). */
  storageFailed: (operation: string, err: unknown, consequence: string) => void
}

/** What the queue-full log line and metrics say happened to the message that did not fit. */
export type Overflow = 'wait' | 'spill' | 'drop'

interface Inflight {
  packet: OutgoingPublish
  /** PUBREC received: waiting for PUBCOMP. */
  released: boolean
}

interface Pending { packet: OutgoingPublish, stored: boolean }

/** A delivery held while the queue is full; `live`: a clean session's live message (isolate may drop it). */
interface Held { item: Pending, cb: () => void, live: boolean }

const QOS0_WAIT_MS = 1000
/** How long a clean session's full queue may hold the publishers without an acknowledgement (isolate). */
const STALL_MS = 1000

const NO_INFLIGHT: ReadonlyMap<number, Inflight> = new Map()

export class Outbound {
  /** Packet id -> message in flight; created with the first QoS 1/2 delivery (most idle devices never get one). */
  private inflightById: Map<number, Inflight> | null = null
  private nextId = 1
  /** Created when first needed, as the in-flight map is: an idle connection holds no queues. */
  private queued: Fifo<Pending> | null = null
  private blockedCallbacks: Fifo<Held> | null = null
  private stallTimer: NodeJS.Timeout | null = null
  private slowTimer: NodeJS.Timeout | null = null
  private lastAckAt = 0
  private qos0Held: Array<{ packet: OutgoingPublish | Buffer, cb: () => void }> | null = null
  private qos0Timer: NodeJS.Timeout | null = null
  private droppingQoS0 = false
  /** Created when a persistent session first spills, or is restored. */
  private spilled: SpilledQueue | null = null
  /** A clean session's live message was dropped since the queue last had room. */
  private dropping = false

  constructor (private readonly host: OutboundHost, private readonly limits: OutboundLimits, public window: number) {}

  private get queue (): Fifo<Pending> {
    return (this.queued ??= new Fifo())
  }

  private get blocked (): Fifo<Held> {
    return (this.blockedCallbacks ??= new Fifo())
  }

  private get qos0Waiting (): Array<{ packet: OutgoingPublish | Buffer, cb: () => void }> {
    return (this.qos0Held ??= [])
  }

  private get inflight (): ReadonlyMap<number, Inflight> {
    return this.inflightById ?? NO_INFLIGHT
  }

  /** Unacknowledged QoS 1/2 messages (for the admin API). */
  get inflightCount (): number {
    return this.inflightById?.size ?? 0
  }

  /** Messages waiting behind the window (for the admin API). */
  get queuedCount (): number {
    return this.queued?.length ?? 0
  }

  private track (packet: OutgoingPublish & { messageId: number }, released: boolean): void {
    (this.inflightById ??= new Map()).set(packet.messageId, { packet, released })
  }

  /** QoS 0 (a Buffer: already encoded): write now, or wait for the socket (see the top of the file). */
  sendQoS0 (packet: OutgoingPublish | Buffer, cb: () => void): void {
    const backlog = this.host.socketBacklog()
    if (this.droppingQoS0) {
      if (backlog > this.limits.maxQueuedBytes / 2) {
        this.host.droppedQoS0(false)
        return cb()
      }
      this.droppingQoS0 = false
    }
    if (backlog <= this.limits.maxQueuedBytes && (this.qos0Held === null || this.qos0Held.length === 0)) {
      this.host.writePacket(packet)
      return cb()
    }
    this.qos0Waiting.push({ packet, cb })
    if (this.qos0Timer !== null) return
    this.qos0Timer = setTimeout(() => this.giveUpOnQoS0(), QOS0_WAIT_MS)
    this.host.whenDrained(() => this.flushQoS0())
  }

  private flushQoS0 (): void {
    if (this.qos0Timer !== null) clearTimeout(this.qos0Timer)
    this.qos0Timer = null
    for (const { packet, cb } of this.qos0Waiting.splice(0)) {
      if (!this.host.closed) this.host.writePacket(packet)
      cb()
    }
  }

  private giveUpOnQoS0 (): void {
    this.qos0Timer = null
    this.droppingQoS0 = true
    let first = true
    for (const { cb } of this.qos0Waiting.splice(0)) {
      this.host.droppedQoS0(first)
      first = false
      cb()
    }
  }

  /**
   * QoS 1/2. `stored`: the message is in the session's stored queue (sending it records its
   * packet id there). `cb` is the router's callback: called at once unless the queue is full.
   */
  sendQoS12 (packet: OutgoingPublish, kind: DeliveryKind, cb: () => void): void {
    const item = { packet, stored: kind === 'stored' }
    // While messages before it are in the stored queue only, it waits there too: it is read back in order.
    if (kind === 'stored' && this.spilled?.leavesStored(packet) === true) return cb()
    if (this.inflight.size < this.window && this.queue.length === 0) {
      this.transmit(item)
      return cb()
    }
    if (this.queue.length < this.limits.maxQueued) {
      this.queue.push(item)
      return cb()
    }
    const isolate = this.limits.queueFullPolicy === 'isolate'
    const first = this.blocked.length === 0 && !this.spilling && !this.dropping
    if (isolate && kind === 'stored') {
      this.host.queueFull(first, this.inflight.size, this.queue.length, 'spill')
      ;(this.spilled ??= new SpilledQueue()).spill()
      this.watchSlowClient()
      return cb()
    }
    if (isolate && kind === 'live' && this.dropping) {
      this.host.queueFull(false, this.inflight.size, this.queue.length, 'drop')
      return cb()
    }
    this.host.queueFull(first, this.inflight.size, this.queue.length, 'wait')
    this.blocked.push({ item, cb, live: kind === 'live' })
    if (isolate && kind === 'live') this.watchStall()
    this.watchSlowClient()
  }

  /**
   * A clean session's full queue holds the publishers back only while the client makes
   * progress: after STALL_MS without an acknowledgement its waiting live messages are
   * dropped (counted), and further ones until it has room again. A slow subscriber under a
   * burst (a fan-in) slows the publishers and loses nothing; a frozen one holds them once.
   */
  private watchStall (): void {
    if (this.stallTimer !== null) return
    const check = (): void => {
      this.stallTimer = null
      if (this.host.closed || this.blocked.length === 0) return
      const quiet = Date.now() - this.lastAckAt
      if (quiet < STALL_MS) {
        this.stallTimer = setTimeout(check, STALL_MS - quiet)
        return
      }
      this.dropping = true
      for (const waiting of this.blocked.drain()) {
        if (!waiting.live) {
          this.blocked.push(waiting)
          continue
        }
        this.host.queueFull(false, this.inflight.size, this.queue.length, 'drop')
        waiting.cb()
      }
    }
    this.stallTimer = setTimeout(check, STALL_MS)
  }

  /**
   * A restored session: its stored queue is sent from storage (refills), after the messages
   * it had in flight are sent again (storedQueueResent). Live messages arriving meanwhile
   * are in the stored queue too, and are read back in their place.
   */
  followStoredQueue (): void {
    (this.spilled ??= new SpilledQueue()).follow()
  }

  storedQueueResent (): void {
    this.spilled?.resent()
    this.pump()
  }

  private get spilling (): boolean {
    return this.spilled?.spilling === true
  }

  /** Reads the next part of a spilled queue once the memory queue is empty. */
  private refill (spilled: SpilledQueue): void {
    const room = Math.max(1, this.limits.maxQueued - this.queue.length)
    const inFlight = [...this.inflight.values()].map(entry => entry.packet)
    void spilled.refill((limit, skip, spareId) => this.host.readUnsent(limit, skip, spareId), room, inFlight, () => this.allocateId()).then(part => {
      if (part === null || this.host.closed) return
      for (const packet of part.packets) this.queue.push({ packet, stored: true })
      if (part.caughtUp && this.blocked.length === 0) this.host.caughtUp()
      this.pump()
    })
  }

  /** A resent message of a restored session: it keeps its packet id (MQTT-4.4.0-1). */
  resend (packet: OutgoingPublish & { messageId: number }, released: boolean): void {
    this.track(packet, released)
    if (packet.messageId >= this.nextId) this.nextId = packet.messageId === 65535 ? 1 : packet.messageId + 1
    this.host.writePacket(released ? { cmd: 'pubrel', messageId: packet.messageId } : packet)
  }

  /** How many more QoS 1/2 messages may be sent right now. */
  room (): number {
    return this.window - this.inflight.size - this.queue.length
  }

  private transmit ({ packet, stored }: Pending): void {
    packet.messageId = this.allocateId()
    this.track(packet as OutgoingPublish & { messageId: number }, false)
    if (!stored || this.host.clean) return this.write(packet)
    // Record the packet id in the stored queue first: an acknowledgement then finds it. With
    // whose delivery it is: Redis keeps one record for every session that queued the message.
    packet.sentTo = this.host.id
    this.host.persistence.outgoingUpdate(this.host, packet).then(() => this.write(packet), err => {
      this.host.storageFailed('outgoingUpdate', err, 'the message is sent; its stored copy keeps no packet id, so it is sent again after a reconnect')
      this.write(packet)
    })
  }

  private write (packet: OutgoingPublish): void {
    if (this.host.closed) return
    if (!this.host.writePacket(packet)) this.settle(packet.messageId as number)
  }

  private allocateId (): number {
    for (let tries = 0; tries < 65535; tries++) {
      const id = this.nextId
      this.nextId = id === 65535 ? 1 : id + 1
      if (!this.inflight.has(id)) return id
    }
    throw new Error('no free packet identifier')
  }

  /** PUBACK (QoS 1) or PUBCOMP (QoS 2). False for a packet id not in flight. */
  complete (messageId: number, expectQoS: 1 | 2): boolean {
    const entry = this.inflight.get(messageId)
    if (entry === undefined || entry.packet.qos !== expectQoS) return false
    if (expectQoS === 2 && !entry.released) return false
    this.settle(messageId)
    return true
  }

  /** PUBREC: the message now waits for PUBCOMP. False for a packet id not in flight; for a persistent session, once its PUBREL is stored. */
  release (messageId: number): Promise<boolean> | boolean {
    const entry = this.inflight.get(messageId)
    if (entry === undefined || entry.packet.qos !== 2) return false
    if (entry.released) return true // a repeated PUBREC: answered with PUBREL again
    entry.released = true
    if (this.host.clean) return true
    // Stored before the PUBREL is written: a restart then resends the PUBREL, never the message again.
    return this.host.persistence.outgoingUpdate(this.host, { cmd: 'pubrel', messageId }).then(() => true)
  }

  /** A QoS 1/2 exchange ended (acknowledged, refused by the client, or not sendable). */
  settle (messageId: number): void {
    const entry = this.inflightById?.get(messageId)
    if (entry === undefined) return
    this.inflightById?.delete(messageId)
    entry.packet.shared?.group.settled(entry.packet.shared)
    if (!this.host.clean) {
      this.host.persistence.outgoingClearMessageId(this.host, { messageId }).catch(err =>
        this.host.storageFailed('outgoingClearMessageId', err, 'the acknowledged message stays in the stored queue and is sent again after a reconnect'))
    }
    this.lastAckAt = Date.now()
    this.pump()
  }

  private pump (): void {
    while (!this.host.closed && this.inflight.size < this.window) {
      const next = this.queue.shift()
      if (next === undefined) break
      this.transmit(next)
    }
    if (this.spilled?.due(this.queue.length) === true && !this.host.closed) return this.refill(this.spilled)
    if (this.dropping && this.queue.length < this.limits.maxQueued) {
      this.dropping = false
      if (this.blocked.length === 0) this.host.caughtUp()
    }
    let released = false
    while (this.queue.length < this.limits.maxQueued) {
      const waiting = this.blocked.shift()
      if (waiting === undefined) break
      this.queue.push(waiting.item)
      released = true
      waiting.cb()
    }
    if (this.blocked.length === 0 && this.slowTimer !== null) {
      clearTimeout(this.slowTimer)
      this.slowTimer = null
    }
    if (this.blocked.length === 0 && this.stallTimer !== null) {
      clearTimeout(this.stallTimer)
      this.stallTimer = null
    }
    if (released && this.blocked.length === 0 && !this.spilling) this.host.caughtUp()
  }

  private watchSlowClient (): void {
    if (this.slowTimer !== null) return
    this.lastAckAt = Date.now()
    const check = (): void => {
      this.slowTimer = null
      if (this.host.closed || (this.blocked.length === 0 && !this.spilling && !this.dropping)) return
      const quiet = Date.now() - this.lastAckAt
      if (quiet >= this.limits.slowClientTimeout) return this.host.tooSlow()
      this.slowTimer = setTimeout(check, this.limits.slowClientTimeout - quiet)
    }
    this.slowTimer = setTimeout(check, this.limits.slowClientTimeout)
  }

  /**
   * The connection closed: release every held router callback (the publishers go on).
   * Returns the shared groups' messages it had not acknowledged (sent without an
   * acknowledgement, QoS 2 without PUBREC, queued, or held with the router's callback).
   */
  close (): Array<{ packet: OutgoingPublish, cb: () => void }> {
    if (this.slowTimer !== null) clearTimeout(this.slowTimer)
    if (this.qos0Timer !== null) clearTimeout(this.qos0Timer)
    if (this.stallTimer !== null) clearTimeout(this.stallTimer)
    this.slowTimer = this.qos0Timer = this.stallTimer = null
    for (const { cb } of this.qos0Held?.splice(0) ?? []) cb()
    const unacknowledged: Array<{ packet: OutgoingPublish, cb: () => void }> = []
    for (const { packet, released } of this.inflight.values()) if (packet.shared !== undefined && !released) unacknowledged.push({ packet, cb: noop })
    for (const { packet } of this.queued?.drain() ?? []) if (packet.shared !== undefined) unacknowledged.push({ packet, cb: noop })
    for (const { item, cb } of this.blockedCallbacks?.drain() ?? []) {
      if (item.packet.shared !== undefined) unacknowledged.push({ packet: item.packet, cb })
      else cb()
    }
    return unacknowledged
  }
}

function noop (): void {}
