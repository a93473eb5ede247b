// Message routing between Swallow processes that share one Redis.
//
// Aedes routes through an mqemitter. ClusterEmitter is one: it delivers to local
// subscribers at once, and forwards to the other nodes:
//  - QoS 1/2 messages and Aedes's own cluster messages ($SYS/<id>/new/clients for
//    takeover, $SYS/sub/add|rm for the subscription index) go through a Redis Stream.
//    emit() completes (and so the publisher's PUBACK is sent) only after Redis has the
//    entry. Every node reads the stream from the last id it saw, so a dropped connection
//    (buffer limit, network blip, Redis restart) resumes where it stopped instead of
//    losing messages, which is what Redis pub/sub (mqemitter-redis) does.
//    Written as a group commit: one XADD in flight; the messages emitted meanwhile go into
//    the next entry together (route-codec.ts, at most BATCH_MAX). An XADD per message was
//    ~35% of the publishing node's busy time (ioredis command objects, a write each) and
//    every node decoded every entry, its own included.
//  - QoS 0 messages go through Redis pub/sub: fire and forget, as QoS 0 is; while Redis
//    is away they are delivered locally only (counted).
// A node skips the entries it wrote itself. Aedes's per-client dedupe (brokerId +
// brokerCounter) is kept because those fields travel with the message.
import mqemitter, { type MQEmitter } from 'mqemitter'
import type { Redis } from 'ioredis'
import type { Logger } from './logger.js'
import { decodeExtras, encodeExtras } from './protocol/message-extras.js'
import { decodeMessages, encodeMessages } from './route-codec.js'
import type { MessageProperties } from './protocol/types.js'

export interface RoutedPacket {
  cmd: 'publish'
  topic: string
  payload: Buffer
  qos: 0 | 1 | 2
  retain: boolean
  dup: boolean
  brokerId?: string
  brokerCounter?: number
  clientId?: string
  /** MQTT 5 properties and the expiry deadline (src/protocol/types.ts): they cross nodes too. */
  properties?: MessageProperties | null
  messageExpiry?: number | null
  /** When it was stored in offline queues (src/protocol/queued-at.ts): a delivery on another node keeps it in the stored record. */
  receivedAt?: number | null
}

export interface ClusterEmitterOptions {
  nodeId: string
  /** For XADD and PUBLISH. */
  writer: Redis
  /** Blocking XREAD (a connection of its own). */
  reader: Redis
  /** SUBSCRIBE (a connection of its own). */
  subscriber: Redis
  streamKey: string
  /** Approximate stream length kept for nodes that fall behind. */
  maxLen: number
  concurrency: number
  log: Logger
  /** Messages that could not reach other nodes: 'qos0_redis_down', or 'cluster_gap' (count unknown: 1 per gap). */
  onLost: (reason: string, count: number) => void
}

const FIELDS = ['n', 't', 'p', 'q', 'r', 'b', 'c', 'i', 'x', 'a', 'm'] as const

/** Messages per route-stream entry at most (a burst waits for the next XADD beyond it). */
const BATCH_MAX = 256

interface Emitted { packet: RoutedPacket, done: (err?: Error) => void }

export class ClusterEmitter {
  private readonly local: MQEmitter
  private lastId = '$'
  private closed = false
  private reading: Promise<void> = Promise.resolve()
  private readonly channel: string
  /** Reliable messages waiting for the XADD in flight to finish (the next entry). */
  private batch: Emitted[] = []
  private writing = false
  /** Messages per entry, averaged: MAXLEN is set in entries so that about maxLen messages stay. */
  private perEntry = 1

  constructor (private readonly opts: ClusterEmitterOptions) {
    this.local = mqemitter({ concurrency: opts.concurrency, matchEmptyLevels: true })
    this.channel = `${opts.streamKey}:qos0`
  }

  async start (): Promise<void> {
    // Start from the newest entry: what came before belongs to the stored sessions.
    const last = await this.opts.writer.xrevrange(this.opts.streamKey, '+', '-', 'COUNT', 1)
    this.lastId = last.length > 0 ? last[0][0] : '0-0'
    await this.opts.subscriber.subscribe(this.channel)
    this.opts.subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.onQoS0(message))
    this.reading = this.readLoop()
  }

  on (topic: string, notify: (packet: RoutedPacket, cb: () => void) => void, done?: () => void): this {
    this.local.on(topic, notify as never, done)
    return this
  }

  removeListener (topic: string, notify: (packet: RoutedPacket, cb: () => void) => void, done?: () => void): this {
    this.local.removeListener(topic, notify as never, done)
    return this
  }

  emit (packet: RoutedPacket, cb?: (err?: Error) => void): void {
    const done = cb ?? noop
    if (this.closed) return done(new Error('emitter closed'))
    if (!forwarded(packet)) return this.local.emit(packet as never, done)
    if (packet.qos === 0 && !packet.topic.startsWith('$SYS/')) {
      if (this.opts.writer.status === 'ready') {
        this.opts.writer.publish(this.channel, encodeQoS0(this.opts.nodeId, packet)).catch(noop)
      } else {
        this.opts.onLost('qos0_redis_down', 1)
      }
      return this.local.emit(packet as never, done)
    }
    // Reliable: the entry is in Redis before the emit completes.
    this.batch.push({ packet, done })
    if (this.writing) return
    // The first of a burst waits for the rest of this turn of the event loop (the other
    // PUBLISHes of the same socket read): one entry for them all.
    this.writing = true
    setImmediate(() => this.writeBatch())
  }

  /** One XADD of what waits; local delivery, in order, once Redis has it; then the next. */
  private writeBatch (): void {
    const batch = this.batch.length <= BATCH_MAX ? this.batch : this.batch.slice(0, BATCH_MAX)
    this.batch = batch === this.batch ? [] : this.batch.slice(BATCH_MAX)
    this.writing = true
    this.perEntry += (batch.length - this.perEntry) / 16
    const maxEntries = String(Math.max(1, Math.ceil(this.opts.maxLen / this.perEntry)))
    const written = (err?: Error): void => {
      for (const { packet, done } of batch) {
        if (err === undefined) this.local.emit(packet as never, done)
        else done(err)
      }
      this.writing = false
      if (this.batch.length > 0) this.writeBatch()
    }
    let entry: Buffer
    try {
      entry = encodeMessages(batch.map(e => e.packet))
    } catch (err) {
      return written(err as Error)
    }
    this.opts.writer.xaddBuffer(this.opts.streamKey, 'MAXLEN', '~', maxEntries, '*', 'n', this.opts.nodeId, 'm', entry)
      .then(() => written(), (err: Error) => written(err))
  }

  close (cb?: () => void): void {
    this.closed = true
    this.opts.reader.disconnect()
    this.opts.subscriber.disconnect()
    this.reading.finally(() => this.local.close(cb ?? noop))
  }

  private onQoS0 (message: Buffer): void {
    let packet: RoutedPacket | null
    try {
      packet = decodeQoS0(message, this.opts.nodeId)
    } catch (err) {
      return this.opts.log.debug({ err }, 'a malformed QoS 0 route message was ignored')
    }
    if (packet) this.local.emit(packet as never, noop)
  }

  private async readLoop (): Promise<void> {
    const { reader, streamKey } = this.opts
    let resumeCheck = false
    while (!this.closed) {
      try {
        if (resumeCheck) {
          await this.checkGap()
          resumeCheck = false
        }
        const res = await reader.xreadBuffer('COUNT', 1000, 'BLOCK', 1000, 'STREAMS', streamKey, this.lastId) as Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null
        if (!res) continue
        for (const [idBuf, fields] of res[0][1]) {
          this.lastId = idBuf.toString()
          await this.emitLocally(this.entryMessages(fields))
        }
      } catch (err) {
        if (this.closed) return
        resumeCheck = true
        this.opts.log.debug({ err }, 'route stream read failed; resuming from the last id')
        await new Promise(resolve => setTimeout(resolve, 250))
      }
    }
  }

  /**
   * Hands an entry's messages to this node's router; resolves when it has called back for all.
   * mqemitter calls the listeners of each emit in emit order (and queues beyond its
   * concurrency in order), so one wait per entry keeps the order a wait per message kept.
   */
  private async emitLocally (packets: RoutedPacket[]): Promise<void> {
    if (packets.length === 0) return
    await new Promise<void>(resolve => {
      let left = packets.length
      const one = (): void => { if (--left === 0) resolve() }
      for (const packet of packets) this.local.emit(packet as never, one)
    })
  }

  /** The messages of an entry another node wrote (none for this node's own, or a malformed one). */
  private entryMessages (fields: Buffer[]): RoutedPacket[] {
    // An entry is ['n', node, 'm', messages] (writeBatch), or one message per entry (streamFields: before 2026-12-04).
    if (fields.length !== 4 || fields[2].toString() !== 'm') {
      const packet = decodeStreamEntry(fields, this.opts.nodeId)
      return packet === null ? [] : [packet]
    }
    if (fields[1].toString() === this.opts.nodeId) return []
    try {
      return decodeMessages(fields[3])
    } catch (err) {
      this.opts.log.error({ err }, 'a route stream entry could not be read; its messages are not delivered on this node')
      this.opts.onLost('cluster_gap', 1)
      return []
    }
  }

  /** After a read error: if the stream was trimmed past our position, say how much was lost. */
  private async checkGap (): Promise<void> {
    if (this.lastId === '0-0') return
    const first = await this.opts.writer.xrange(this.opts.streamKey, '-', '+', 'COUNT', 1)
    if (first.length === 0 || compareIds(first[0][0], this.lastId) <= 0) return
    this.opts.log.error({ from: this.lastId, firstAvailable: first[0][0] },
      'this node fell behind the route stream further than --redis-route-maxlen keeps: messages from other nodes were lost')
    this.opts.onLost('cluster_gap', 1)
  }
}

function noop (): void {}

/** $SYS/broker/... is each node's own statistics; everything else is cluster-wide. */
function forwarded (packet: RoutedPacket): boolean {
  return !packet.topic.startsWith('$SYS/broker/')
}

export function streamFields (nodeId: string, p: RoutedPacket): Array<string | Buffer> {
  const fields = ['n', nodeId, 't', p.topic, 'p', p.payload, 'q', String(p.qos), 'r', p.retain ? '1' : '0',
    'b', p.brokerId ?? '', 'c', String(p.brokerCounter ?? 0), 'i', p.clientId ?? '', 'x', encodeExtras(p)]
  if (typeof p.receivedAt === 'number') fields.push('a', String(p.receivedAt))
  return fields
}

/** A route-stream entry as a packet; null for an entry `self` wrote (and a malformed one). */
export function decodeStreamEntry (fields: Buffer[], self: string): RoutedPacket | null {
  const v: Partial<Record<typeof FIELDS[number], Buffer>> = {}
  for (let i = 0; i + 1 < fields.length; i += 2) v[fields[i].toString() as typeof FIELDS[number]] = fields[i + 1]
  if (!v.n || v.n.toString() === self || !v.t) return null
  const packet = decodeExtras(toPacket(v.t.toString(), v.p ?? Buffer.alloc(0), Number(v.q?.toString() ?? 0), v.r?.toString() === '1',
    v.b?.toString(), Number(v.c?.toString() ?? 0), v.i?.toString()), v.x)
  if (v.a !== undefined) packet.receivedAt = Number(v.a.toString())
  return packet
}

// QoS 0 over pub/sub: [nodeIdLen u8][nodeId][the message (route-codec.ts)]
function encodeQoS0 (nodeId: string, p: RoutedPacket): Buffer {
  const node = Buffer.from(nodeId)
  return Buffer.concat([Buffer.from([node.length]), node, encodeMessages([p])])
}

function decodeQoS0 (buf: Buffer, self: string): RoutedPacket | null {
  const nodeLength = buf.readUInt8(0)
  if (buf.toString('utf8', 1, 1 + nodeLength) === self) return null
  return decodeMessages(buf, 1 + nodeLength)[0] ?? null
}

function toPacket (topic: string, payload: Buffer, qos: number, retain: boolean, brokerId: string | undefined, brokerCounter: number, clientId: string | undefined): RoutedPacket {
  const p: RoutedPacket = { cmd: 'publish', topic, payload, qos: qos as 0 | 1 | 2, retain, dup: false }
  if (brokerId) {
    p.brokerId = brokerId
    p.brokerCounter = brokerCounter
  }
  if (clientId) p.clientId = clientId
  return p
}

function compareIds (a: string, b: string): number {
  const [am, as] = a.split('-').map(Number)
  const [bm, bs] = b.split('-').map(Number)
  return am !== bm ? am - bm : as - bs
}
