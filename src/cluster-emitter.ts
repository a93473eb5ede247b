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
//  - QoS 0 messages go through Redis pub/sub: fire and forget, as QoS 0 is; while Redis
//    is away they are delivered locally only (counted).
// A node skips the entries it wrote itself. Aedes's per-client dedupe (brokerId +
// brokerCounter) is kept because those fields travel with the message.
import mqemitter, { type MQEmitter } from 'mqemitter'
import type { Redis } from 'ioredis'
import type { Logger } from './logger.js'
import { decodeExtras, encodeExtras } from './protocol/message-extras.js'
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

const FIELDS = ['n', 't', 'p', 'q', 'r', 'b', 'c', 'i', 'x', 'a'] as const

export class ClusterEmitter {
  private readonly local: MQEmitter
  private lastId = '$'
  private closed = false
  private reading: Promise<void> = Promise.resolve()
  private readonly channel: string

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
    this.opts.writer.xaddBuffer(this.opts.streamKey, 'MAXLEN', '~', String(this.opts.maxLen), '*', ...streamFields(this.opts.nodeId, packet))
      .then(() => this.local.emit(packet as never, done), (err: Error) => done(err))
  }

  close (cb?: () => void): void {
    this.closed = true
    this.opts.reader.disconnect()
    this.opts.subscriber.disconnect()
    this.reading.finally(() => this.local.close(cb ?? noop))
  }

  private onQoS0 (message: Buffer): void {
    const packet = decodeQoS0(message, this.opts.nodeId)
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
          const packet = decodeStreamEntry(fields, this.opts.nodeId)
          if (packet) await new Promise<void>(resolve => this.local.emit(packet as never, () => resolve()))
        }
      } catch (err) {
        if (this.closed) return
        resumeCheck = true
        this.opts.log.debug({ err }, 'route stream read failed; resuming from the last id')
        await new Promise(resolve => setTimeout(resolve, 250))
      }
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

// QoS 0 over pub/sub: [nodeIdLen u8][nodeId][topicLen u16][topic][retain u8][brokerIdLen u8][brokerId][counter f64]
// [extrasLen u32][extras (encodeExtras)][payload]
function encodeQoS0 (nodeId: string, p: RoutedPacket): Buffer {
  const node = Buffer.from(nodeId)
  const topic = Buffer.from(p.topic)
  const broker = Buffer.from(p.brokerId ?? '')
  const extras = encodeExtras(p)
  const head = Buffer.allocUnsafe(1 + node.length + 2 + topic.length + 1 + 1 + broker.length + 8 + 4)
  let o = head.writeUInt8(node.length, 0)
  o += node.copy(head, o)
  o = head.writeUInt16BE(topic.length, o)
  o += topic.copy(head, o)
  o = head.writeUInt8(p.retain ? 1 : 0, o)
  o = head.writeUInt8(broker.length, o)
  o += broker.copy(head, o)
  o = head.writeDoubleBE(p.brokerCounter ?? 0, o)
  head.writeUInt32BE(extras.length, o)
  return Buffer.concat([head, extras, p.payload])
}

function decodeQoS0 (buf: Buffer, self: string): RoutedPacket | null {
  let o = 0
  const nodeLen = buf.readUInt8(o++)
  const node = buf.toString('utf8', o, o + nodeLen)
  if (node === self) return null
  o += nodeLen
  const topicLen = buf.readUInt16BE(o)
  o += 2
  const topic = buf.toString('utf8', o, o + topicLen)
  o += topicLen
  const retain = buf.readUInt8(o++) === 1
  const brokerLen = buf.readUInt8(o++)
  const brokerId = buf.toString('utf8', o, o + brokerLen)
  o += brokerLen
  const counter = buf.readDoubleBE(o)
  o += 8
  const extrasLen = buf.readUInt32BE(o)
  o += 4
  const extras = buf.subarray(o, o + extrasLen)
  return decodeExtras(toPacket(topic, buf.subarray(o + extrasLen), 0, retain, brokerId, counter, undefined), extras)
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
