// The retained store: the index (trie + expiry lists) over one backend, with the limits.
// It is the IndexSink its backend reports stored changes to, and it answers Aedes's three
// retained calls and the admin API's queries.
import type { Counter } from 'prom-client'
import type { Logger } from '../../src/logger.js'
import { openPayload, sealPayload, type IndexSink, type RetainedBackend, type RetainedMeta, type StoredMessage, type WriteOp } from './backend.js'
import type { MessageProperties } from '../../src/protocol/types.js'
import { Expiry, type ExpiryRule } from './expiry.js'
import { Limits, type LimitSettings } from './limits.js'
import { RetainedStream, type Subscriber } from './stream.js'
import { TopicTrie, TrieMatcher, type TrieNode } from './trie.js'

/** The part of a routed PUBLISH packet the store reads. */
export interface RetainPacket {
  topic: string
  payload: Buffer | string
  qos: 0 | 1 | 2
  /** MQTT 5 properties, kept with the message (MQTT-3.3.2-17, -20 hold for retained messages too). */
  properties?: MessageProperties | null
  /** MQTT 5 Message Expiry deadline: the message is not delivered after it, and is swept. */
  messageExpiry?: number | null
}

export interface RetainedInfo {
  topic: string
  qos: 0 | 1 | 2
  size: number
  storedAt: number
  /** 0 = never */
  expiresAt: number
}

export interface ListPage {
  items: RetainedInfo[]
  /** Pass back to get the next page; null after the last one. */
  cursor: string | null
}

export interface StoreOptions {
  limits: LimitSettings
  expiry: readonly ExpiryRule[]
  refused: Counter<'reason'>
  expired: Counter
  /** A stream waits while its subscriber's socket holds more unsent bytes than this. */
  pauseAtBytes?: number
}

const SWEEP_BATCH = 1000
const CLEAR_BATCH = 1000
const CURSOR_CACHE = 32

export class RetainedStore implements IndexSink {
  readonly trie = new TopicTrie()
  /** The broker's own $SYS topics in the trie: few and fixed, they never count against --retained-max-messages. */
  private readonly sysTopics = new Set<string>()
  private readonly expiry: Expiry
  private readonly limits: Limits
  /** Walks paused at the end of an admin page, by cursor: the next page continues them. */
  private readonly openCursors = new Map<string, { matcher: TrieMatcher, peeked: TrieNode | null }>()
  private sweeper: NodeJS.Timeout | null = null
  private sweeping: Promise<void> | null = null

  constructor (readonly backend: RetainedBackend, private readonly opts: StoreOptions, private readonly log: Logger) {
    this.expiry = new Expiry(opts.expiry)
    this.limits = new Limits(opts.limits, opts.refused, log)
  }

  async open (): Promise<void> {
    const started = Date.now()
    await this.backend.open(this)
    this.expiry.sortAll()
    this.log.info({ backend: this.backend.name, count: this.trie.count, bytes: this.trie.bytes, ms: Date.now() - started }, 'retained store loaded')
    // Also without expiry rules: MQTT 5 messages may carry their own expiry.
    const minTtl = Math.min(2000, ...this.opts.expiry.map(r => r.ttlMs))
    this.sweeper = setInterval(() => { this.sweeping ??= this.sweep().finally(() => { this.sweeping = null }) },
      Math.max(100, Math.floor(minTtl / 2)))
    this.sweeper.unref()
  }

  // IndexSink: what the backend has stored, in storage order.
  put (topic: string, meta: RetainedMeta): void {
    if (topic.startsWith('$SYS/')) this.sysTopics.add(topic)
    const node = this.trie.set(topic, meta)
    this.expiry.track(node, topic)
  }

  del (topic: string): void {
    const node = this.trie.find(topic)
    if (node === undefined) return
    this.sysTopics.delete(topic)
    this.expiry.untrack(node)
    this.trie.remove(node)
  }

  get (topic: string): RetainedMeta | undefined {
    return this.trie.find(topic)?.meta()
  }

  clear (): void {
    this.sysTopics.clear()
    this.trie.clear()
    this.expiry.reset()
  }

  /** Aedes's storeRetained (the first step of broker.publish): resolves once the change is durable (see backend.ts). */
  store (packet: RetainPacket): Promise<void> {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
    const topic = packet.topic
    // An empty payload clears the topic (MQTT-3.3.1-10/11).
    if (payload.length === 0) return this.backend.write([{ type: 'del', topic }])
    const isNew = this.trie.find(topic) === undefined && !topic.startsWith('$SYS/')
    const count = this.trie.count - this.sysTopics.size
    const refused = this.limits.check(payload.length, isNew, count)
    if (refused !== null) {
      this.limits.refuse(refused, topic, payload.length, count)
      // A too-big message still replaces the previous one: that one is no longer the last value.
      return refused === 'max_payload' ? this.backend.write([{ type: 'del', topic }]) : Promise.resolve()
    }
    const meta: RetainedMeta = { qos: packet.qos, storedAt: Date.now(), size: payload.length, seq: 0 }
    if (typeof packet.messageExpiry === 'number') meta.expiresAt = packet.messageExpiry
    const stored = sealPayload({ payload, properties: packet.properties, messageExpiry: packet.messageExpiry })
    return this.backend.write([{ type: 'put', topic, meta, payload: stored }])
  }

  /** Aedes's createRetainedStreamCombi; `subscriber` (when known) gets QoS downgrades and an early stop. */
  stream (filters: readonly string[], subscriber: Subscriber | null = null): RetainedStream {
    return new RetainedStream(this.trie, this.backend, filters, subscriber, this.log, this.opts.pauseAtBytes)
  }

  /** One retained message with its payload (and MQTT 5 properties), or undefined. */
  async one (topic: string): Promise<{ info: RetainedInfo, message: StoredMessage } | undefined> {
    const node = this.trie.find(topic)
    if (node === undefined || this.expired(node, Date.now())) return undefined
    const [bytes] = await this.backend.payloads([topic])
    return bytes === undefined ? undefined : { info: info(node, topic), message: openPayload(bytes) }
  }

  /** A page of the retained messages matching `filter`, in index order. Throws CursorError. */
  list (filter: string, cursor: string | null, limit: number): ListPage {
    let walk = cursor !== null ? this.openCursors.get(cursor) : undefined
    if (cursor !== null) this.openCursors.delete(cursor)
    if (walk === undefined) {
      walk = { matcher: new TrieMatcher(this.trie.root, filter), peeked: null }
      if (cursor !== null) walk.peeked = skipTo(walk.matcher, decodeCursor(cursor, filter))
    }
    const now = Date.now()
    const items: RetainedInfo[] = []
    let last: TrieNode | null = null
    let node = walk.peeked ?? walk.matcher.next()
    for (; node !== null; node = walk.matcher.next()) {
      if (!node.has || this.expired(node, now)) continue
      if (items.length === limit) break
      items.push(info(node, node.topic()))
      last = node
    }
    if (node === null || last === null) return { items, cursor: null }
    const next = encodeCursor(filter, last.ordPath())
    walk.peeked = node
    this.openCursors.set(next, walk)
    if (this.openCursors.size > CURSOR_CACHE) this.openCursors.delete(this.openCursors.keys().next().value as string)
    return { items, cursor: next }
  }

  /** Clears every retained message matching `filter`; resolves how many there were. */
  async clearMatching (filter: string): Promise<number> {
    const matcher = new TrieMatcher(this.trie.root, filter)
    let cleared = 0
    for (;;) {
      const ops: WriteOp[] = []
      for (let node = matcher.next(); node !== null; node = ops.length < CLEAR_BATCH ? matcher.next() : null) {
        ops.push({ type: 'del', topic: node.topic() })
      }
      if (ops.length === 0) return cleared
      await this.backend.write(ops)
      cleared += ops.length
    }
  }

  async close (): Promise<void> {
    if (this.sweeper !== null) clearInterval(this.sweeper)
    await this.sweeping
    await this.backend.close()
  }

  private expired (node: TrieNode, now: number): boolean {
    return node.expiresAt !== 0 && node.expiresAt <= now
  }

  private async sweep (): Promise<void> {
    const due = this.expiry.due(Date.now(), SWEEP_BATCH)
    if (due.length === 0) return
    const before = this.trie.count
    try {
      await this.backend.write(due.map(n => ({ type: 'expire', topic: n.topic(), storedAt: n.storedAt })))
      if (before > this.trie.count) this.opts.expired.inc(before - this.trie.count)
    } catch (err) {
      this.expiry.requeue(due)
      this.log.warn({ err }, 'sweeping expired retained messages failed; retrying on the next sweep')
    }
  }
}

function info (node: TrieNode, topic: string): RetainedInfo {
  return { topic, qos: node.qos as 0 | 1 | 2, size: node.size, storedAt: node.storedAt, expiresAt: node.expiresAt }
}

export class CursorError extends Error {}

function encodeCursor (filter: string, path: number[]): string {
  return Buffer.from(JSON.stringify({ f: filter, p: path })).toString('base64url')
}

function decodeCursor (cursor: string, filter: string): number[] {
  try {
    const { f, p } = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as { f: unknown, p: unknown }
    if (f === filter && Array.isArray(p) && p.every(n => Number.isInteger(n))) return p as number[]
  } catch {}
  throw new CursorError('invalid cursor: pass the cursor of the previous page, with the same filter')
}

/** Advances a fresh walk past `path` (cursors compare as ordinal paths, see trie.ts); returns the next node. */
function skipTo (matcher: TrieMatcher, path: number[]): TrieNode | null {
  for (let node = matcher.next(); node !== null; node = matcher.next()) {
    const p = node.ordPath()
    let cmp = 0
    for (let i = 0; i < Math.min(p.length, path.length) && cmp === 0; i++) cmp = p[i] - path[i]
    if (cmp > 0 || (cmp === 0 && p.length > path.length)) return node
  }
  return null
}
