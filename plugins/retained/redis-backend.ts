// The Redis backend, for clusters: every node keeps the same index, so a retained message
// stored through one node is delivered by all of them.
//
// Redis holds two hashes (topic -> metadata text, see parseMeta; topic -> stored bytes) and a
// sequence counter. Each write is one Lua script: it bumps the sequence, writes both
// hashes and publishes the change, atomically. Every node (the writer included) applies
// the changes to its index from that channel, in Redis's order; a write resolves once it
// is acknowledged by Redis and applied to the local index. After a lost subscription the
// index is reloaded from the hashes (changes during the reload are merged by sequence).
import { Redis } from 'ioredis'
import { StartupError } from '../../src/errors.js'
import type { Logger } from '../../src/logger.js'
import type { IndexSink, RetainedBackend, RetainedMeta, WriteOp } from './backend.js'

const PUT = `
local seq = redis.call('INCR', KEYS[3])
local meta = ARGV[2] .. ':' .. seq
redis.call('HSET', KEYS[1], ARGV[1], meta)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], 'p:' .. meta .. ':' .. ARGV[1])
return seq`

// ARGV[2]: the stored time the message must still have ('' = delete whatever is there).
const DEL = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
if ARGV[2] ~= '' and string.match(cur, '^%d+:([^:]+):') ~= ARGV[2] then return 0 end
local seq = redis.call('INCR', KEYS[3])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[3], 'd:' .. seq .. ':' .. ARGV[1])
return seq`

type ScriptedRedis = Redis & {
  retainedPut: (meta: string, data: string, seq: string, topic: string, head: string, payload: Buffer, channel: string) => Promise<number>
  retainedDel: (meta: string, data: string, seq: string, topic: string, storedAt: string, channel: string) => Promise<number>
}

interface Change { put: boolean, seq: number, topic: string, meta?: RetainedMeta }

/** Added to the QoS in the first field: the metadata has an expiresAt field (MQTT 5 Message Expiry). */
const EXPIRY_FLAG = 4

/** The metadata text before the sequence number: "qos:storedAt:size", or "qos+4:storedAt:size:expiresAt". */
function metaHead (meta: RetainedMeta): string {
  if ((meta.expiresAt ?? 0) === 0) return `${meta.qos}:${meta.storedAt}:${meta.size}`
  return `${meta.qos | EXPIRY_FLAG}:${meta.storedAt}:${meta.size}:${meta.expiresAt ?? 0}`
}

/** Colon-separated fields of a metadata text: 4 ("qos:storedAt:size:seq"), 5 with the expiry flag. */
const fieldCount = (text: string): number => (Number(text.slice(0, text.indexOf(':'))) & EXPIRY_FLAG) !== 0 ? 5 : 4

function parseMeta (text: string): RetainedMeta | undefined {
  const fields = text.split(':').map(Number)
  if (fields.length !== fieldCount(text) || !fields.every(Number.isFinite)) return undefined
  const qos = fields[0] & 3
  if (qos > 2) return undefined
  const meta: RetainedMeta = { qos: qos as 0 | 1 | 2, storedAt: fields[1], size: fields[2], seq: fields[fields.length - 1] }
  if (fields.length === 5 && fields[3] !== 0) meta.expiresAt = fields[3]
  return meta
}

/** "p:<metadata text>:topic" or "d:seq:topic" */
function parseChange (msg: string): Change | undefined {
  if (msg.startsWith('d:')) {
    const colon = msg.indexOf(':', 2)
    return { put: false, seq: Number(msg.slice(2, colon)), topic: msg.slice(colon + 1) }
  }
  let at = 2
  const fields = fieldCount(msg.slice(2))
  for (let i = 0; i < fields; i++) at = msg.indexOf(':', at) + 1
  if (at <= 0) return undefined
  const meta = parseMeta(msg.slice(2, at - 1))
  return meta === undefined ? undefined : { put: true, seq: meta.seq, topic: msg.slice(at), meta }
}

export class RedisBackend implements RetainedBackend {
  readonly name = 'redis'
  private readonly redis: ScriptedRedis
  private readonly sub: Redis
  private readonly keys: { meta: string, data: string, seq: string, channel: string, imported: string }
  private sink: IndexSink | null = null
  private appliedSeq = 0
  /** Writes waiting to see their sequence number applied, in increasing order. */
  private readonly waiting: Array<{ seq: number, resolve: () => void }> = []
  private buffered: string[] | null = null
  private opened = false

  constructor (url: string, private readonly log: Logger, prefix = 'swallow:retained:') {
    this.keys = { meta: prefix + 'meta', data: prefix + 'data', seq: prefix + 'seq', channel: prefix + 'changes', imported: prefix + 'imported' }
    this.redis = new Redis(url, { lazyConnect: true, connectionName: 'swallow-retained' }) as ScriptedRedis
    this.redis.defineCommand('retainedPut', { numberOfKeys: 3, lua: PUT })
    this.redis.defineCommand('retainedDel', { numberOfKeys: 3, lua: DEL })
    this.sub = new Redis(url, { lazyConnect: true, connectionName: 'swallow-retained-sub' })
    reportOutages(this.redis, 'retained store', log)
    reportOutages(this.sub, 'retained store (change subscriber)', log)
    this.sub.on('message', (_channel: string, msg: string) => this.onChange(msg))
  }

  async open (sink: IndexSink): Promise<void> {
    this.sink = sink
    try {
      await this.redis.connect()
      await this.sub.connect()
      await this.sub.subscribe(this.keys.channel)
    } catch (err) {
      throw new StartupError(`retained store: cannot connect to Redis at --redis-url: ${(err as Error).message}`)
    }
    await this.reload()
    this.opened = true
    // A lost subscription may have missed changes: reload once it is back.
    this.sub.on('ready', () => {
      if (!this.opened) return
      this.sub.subscribe(this.keys.channel)
        .then(async () => await this.reload())
        .catch(err => this.log.error({ err }, 'retained store: reloading the index from Redis failed'))
    })
  }

  async write (ops: WriteOp[]): Promise<void> {
    const k = this.keys
    const seqs = await Promise.all(ops.map(op => {
      if (op.type === 'put') {
        return this.redis.retainedPut(k.meta, k.data, k.seq, op.topic, metaHead(op.meta), op.payload, k.channel)
      }
      return this.redis.retainedDel(k.meta, k.data, k.seq, op.topic, op.type === 'expire' ? String(op.storedAt) : '', k.channel)
    }))
    let last = 0
    for (const seq of seqs) if (seq > last) last = seq
    if (last <= this.appliedSeq) return
    await new Promise<void>(resolve => {
      const waiting = this.waiting
      waiting.push({ seq: last, resolve })
      // Replies come in command order, so this is already sorted; keep release() right if not.
      if (waiting.length > 1 && waiting[waiting.length - 2].seq > last) waiting.sort((x, y) => x.seq - y.seq)
    })
  }

  async payloads (topics: string[]): Promise<Array<Buffer | undefined>> {
    if (topics.length === 0) return []
    const values = await this.redis.hmgetBuffer(this.keys.data, ...topics)
    return values.map(v => v ?? undefined)
  }

  async imported (): Promise<boolean> {
    return await this.redis.exists(this.keys.imported) === 1
  }

  async markImported (): Promise<void> {
    await this.redis.set(this.keys.imported, '1')
  }

  async close (): Promise<void> {
    this.opened = false
    await Promise.allSettled([this.sub.quit(), this.redis.quit()])
  }

  private onChange (msg: string): void {
    if (this.buffered !== null) {
      this.buffered.push(msg)
      return
    }
    this.apply(msg)
    this.release()
  }

  private apply (msg: string): void {
    const change = parseChange(msg)
    if (change === undefined) return
    const sink = this.sink as IndexSink
    const current = sink.get(change.topic)
    // Sequence numbers order the changes; an older one (seen again after a reload) is ignored.
    if (current === undefined || current.seq < change.seq) {
      if (change.put) sink.put(change.topic, change.meta as RetainedMeta)
      else if (current !== undefined) sink.del(change.topic)
    }
    if (change.seq > this.appliedSeq) this.appliedSeq = change.seq
  }

  private release (): void {
    while (this.waiting.length > 0 && this.waiting[0].seq <= this.appliedSeq) (this.waiting.shift() as { resolve: () => void }).resolve()
  }

  /** Rebuilds the index from the meta hash; changes published meanwhile are merged after. */
  private async reload (): Promise<void> {
    const sink = this.sink as IndexSink
    this.buffered = []
    try {
      const seqAtStart = Number(await this.redis.get(this.keys.seq) ?? 0)
      sink.clear()
      // The index is empty here and HSCAN returns at worst the same entry twice: no sequence check needed.
      const stream = this.redis.hscanStream(this.keys.meta, { count: 10_000 })
      for await (const chunk of stream as AsyncIterable<string[]>) {
        for (let i = 0; i + 1 < chunk.length; i += 2) {
          const meta = parseMeta(chunk[i + 1])
          if (meta !== undefined) sink.put(chunk[i], meta)
        }
      }
      if (seqAtStart > this.appliedSeq) this.appliedSeq = seqAtStart
    } finally {
      const buffered = this.buffered
      this.buffered = null
      for (const msg of buffered) this.apply(msg)
      this.release()
    }
  }
}

/**
 * One error line when a connection to Redis is lost and one info line when it is back;
 * ioredis reports every failed reconnect attempt (several a second), which are not news.
 */
function reportOutages (conn: Redis, what: string, log: Logger): void {
  let down = false
  conn.on('error', (err: Error) => {
    if (down) return
    down = true
    log.error({ err: err.message }, `${what}: Redis connection lost; retained writes wait until it is back`)
  })
  conn.on('ready', () => {
    if (!down) return
    down = false
    log.info(`${what}: Redis connection back`)
  })
}
