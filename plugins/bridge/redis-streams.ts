// The Redis Streams store: one Redis stream per bridge stream, so backend services in any
// language read it with XREAD / XREADGROUP.
//
// Layout (prefix "swallow:log:"):
//   swallow:log:<stream>          the stream; entry id "1-<offset>", fields:
//                                 time (ms since epoch, decimal), topic, payload (raw bytes),
//                                 qos ("0"|"1"|"2"), retain ("0"|"1"),
//                                 clientId and username (absent when none), extras (the MQTT 5
//                                 properties and expiry deadline as src/protocol/message-extras.ts
//                                 encodes them; absent when the message had none)
//   swallow:log:<stream>:seq      counter: the next offset (INCR'd by the append script)
//   swallow:log:<stream>:groups   hash: consumer group -> JSON {offset, committedAt}
// Offsets <-> ids: offset N is id "1-N" (the "1-" keeps offset 0 a valid id, since Redis
// refuses "0-0"); to read from offset N use XRANGE key 1-N +, to read after it XREAD ... 1-N.
// The offset is assigned inside one Lua script (INCR + XADD), so several brokers appending
// to the same stream keep it gap-free and ordered. Retention: XADD MAXLEN ~ (approximate).
// Durability: a durable append is acknowledged once Redis replied; it survives a Redis crash
// only with appendonly yes and appendfsync always (everysec can lose the last second).
import { Redis } from 'ioredis'
import { decodeExtras, encodeExtras, hasExtras } from '../../src/protocol/message-extras.js'
import type { LogBounds } from './log/reader.js'
import type { GroupPosition, GroupStore } from './log/groups.js'
import type { LogRecord, RecordInput } from './log/record.js'
import type { Done } from './log/group-commit.js'
import { NO_DAMAGE, type DamageSummary, type StreamCursor, type StreamStore } from './store.js'

const APPEND_SCRIPT = `
local offset = redis.call('INCR', KEYS[2]) - 1
local maxlen = tonumber(ARGV[1])
if maxlen > 0 then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '1-' .. offset, unpack(ARGV, 2))
else
  redis.call('XADD', KEYS[1], '1-' .. offset, unpack(ARGV, 2))
end
return offset`

export interface RedisStoreOptions {
  url: string
  /** Approximate number of entries kept per stream (0: unlimited). */
  maxLen: number
  /** Async appends waiting for Redis beyond this are dropped (counted). */
  maxPending: number
  prefix?: string
}

type AppendFn = (key: string, seqKey: string, ...args: Array<string | number | Buffer | Done>) => void

export class RedisStreamStore implements StreamStore {
  readonly kind = 'redis'
  readonly groups: GroupStore
  appended = 0
  dropped = 0
  onError: ((err: Error) => void) | null = null
  private pending = 0
  private readonly key: string
  private readonly seqKey: string
  private readonly append: AppendFn
  private readonly asyncDone: Done

  constructor (readonly name: string, private readonly redis: Redis, private readonly opts: RedisStoreOptions) {
    const prefix = opts.prefix ?? 'swallow:log:'
    this.key = prefix + name
    this.seqKey = `${prefix}${name}:seq`
    this.groups = new RedisGroupStore(redis, `${prefix}${name}:groups`)
    if (!('swallowLogAppend' in redis)) redis.defineCommand('swallowLogAppend', { numberOfKeys: 2, lua: APPEND_SCRIPT })
    const r = redis as unknown as { swallowLogAppend: AppendFn }
    this.append = r.swallowLogAppend.bind(redis)
    this.asyncDone = (err) => {
      this.pending--
      if (err) {
        this.dropped++
        this.onError?.(err)
      }
    }
  }

  /**
   * One connection per store. Commands wait while Redis is down (no retry limit), so a
   * durable append is acknowledged only once Redis has it; auto-pipelining batches the
   * appends of one event-loop turn into one write.
   */
  static connect (url: string): Redis {
    return new Redis(url, { maxRetriesPerRequest: null, enableAutoPipelining: true, lazyConnect: false })
  }

  private fields (input: RecordInput, time: number): Array<string | number | Buffer> {
    const f: Array<string | number | Buffer> = [this.opts.maxLen, 'time', time, 'topic', input.topic, 'payload', input.payload,
      'qos', input.qos, 'retain', input.retain ? '1' : '0']
    if (input.clientId !== null) f.push('clientId', input.clientId)
    if (input.username !== null) f.push('username', input.username)
    if (hasExtras(input)) f.push('extras', encodeExtras(input))
    return f
  }

  appendDurable (input: RecordInput, time: number, done: Done): void {
    this.appended++
    // The one closure per durable append: a refused record must reach onError (the bridge
    // then forgets its in-flight packet ids, so the device's retry is appended).
    this.append(this.key, this.seqKey, ...this.fields(input, time), (err?: Error | null) => {
      if (err) this.onError?.(err)
      done(err)
    })
  }

  /** Redis has no write-without-fsync step of its own to wait for: its reply is the write
   *  (how durable is its appendfsync setting's business), so written waits like durable. */
  appendWritten (input: RecordInput, time: number, done: Done): void {
    this.appendDurable(input, time, done)
  }

  appendAsync (input: RecordInput, time: number): boolean {
    if (this.pending >= this.opts.maxPending) {
      this.dropped++
      return false
    }
    this.pending++
    this.appended++
    this.append(this.key, this.seqKey, ...this.fields(input, time), this.asyncDone)
    return true
  }

  async bounds (): Promise<LogBounds> {
    const [first, seq, bytes] = await Promise.all([
      this.redis.xrange(this.key, '-', '+', 'COUNT', 1),
      this.redis.get(this.seqKey),
      this.redis.call('MEMORY', 'USAGE', this.key).catch(() => 0) as Promise<number | null>
    ])
    const next = seq === null ? 0 : Number(seq)
    return { first: first.length > 0 ? idToOffset(first[0][0]) : next, next, bytes: bytes ?? 0 }
  }

  /** Binary search over offsets (ids carry no time): O(log n) round trips. */
  async offsetForTime (ms: number): Promise<number> {
    let { first: lo, next: hi } = await this.bounds()
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2)
      const [entry] = await this.redis.xrangeBuffer(this.key, `1-${mid}`, '+', 'COUNT', 1)
      if (!entry) { hi = mid; continue }
      const record = toRecord(entry)
      if (record.time >= ms) hi = mid
      else lo = record.offset + 1
    }
    return lo
  }

  cursor (from: number): StreamCursor {
    const redis = this.redis
    const key = this.key
    let offset = from
    return {
      get nextOffset () { return offset },
      async read (max) {
        const entries = await redis.xrangeBuffer(key, `1-${offset}`, '+', 'COUNT', max)
        const records = entries.map(toRecord)
        if (records.length > 0) offset = records[records.length - 1].offset + 1
        return records
      },
      async close () {}
    }
  }

  waitForAppend (ms: number): Promise<void> {
    return new Promise(resolve => setTimeout(resolve, Math.min(ms, 100)))
  }

  /** The connection is the registry's (shared by the Redis streams); it quits it. */
  /** Commands on one connection complete in order: a PING answered means the appends before it were. */
  /** Redis keeps its own integrity (no segment files to damage). */
  damage (): DamageSummary { return NO_DAMAGE }

  async drain (): Promise<void> {
    await this.redis.ping()
  }

  async close (): Promise<void> {}
}

function idToOffset (id: string | Buffer): number {
  const s = String(id)
  return Number(s.slice(s.indexOf('-') + 1))
}

function toRecord ([id, fields]: [Buffer, Buffer[]]): LogRecord {
  const record: LogRecord = { offset: idToOffset(id), time: 0, topic: '', payload: Buffer.alloc(0), qos: 0, retain: false, clientId: null, username: null }
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1]
    switch (fields[i].toString()) {
      case 'time': record.time = Number(value.toString()); break
      case 'topic': record.topic = value.toString(); break
      case 'payload': record.payload = value; break
      case 'qos': record.qos = Number(value.toString()); break
      case 'retain': record.retain = value.toString() === '1'; break
      case 'clientId': record.clientId = value.toString(); break
      case 'username': record.username = value.toString(); break
      case 'extras': decodeExtras(record, value); break
    }
  }
  return record
}

class RedisGroupStore implements GroupStore {
  constructor (private readonly redis: Redis, private readonly key: string) {}

  async get (group: string): Promise<GroupPosition | null> {
    const raw = await this.redis.hget(this.key, group)
    if (raw === null) return null
    const data = JSON.parse(raw) as { offset: number, committedAt: string }
    return { group, offset: data.offset, committedAt: data.committedAt }
  }

  async list (): Promise<GroupPosition[]> {
    const all = await this.redis.hgetall(this.key)
    return Object.keys(all).sort().map(group => {
      const data = JSON.parse(all[group]) as { offset: number, committedAt: string }
      return { group, offset: data.offset, committedAt: data.committedAt }
    })
  }

  async commit (group: string, offset: number): Promise<GroupPosition> {
    const committedAt = new Date().toISOString()
    await this.redis.hset(this.key, group, JSON.stringify({ offset, committedAt }))
    return { group, offset, committedAt }
  }
}
