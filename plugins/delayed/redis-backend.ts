// The Redis backend, for clusters: every node of the cluster stores into and releases from
// the same three keys.
//   due      sorted set: id -> the time to look at it (its due time; once claimed, the lease end)
//   ids      sorted set: id -> 0 (lexicographic: the API's pages, the pending count)
//   records  hash: id -> the encoded record
// A node claims due records with one script that moves their score to now + lease: no other
// node sees them due until the lease ends. The claiming node removes each record after its
// release is stored; if it dies first, the lease ends and another node publishes it.
import { Redis } from 'ioredis'
import { StartupError } from '../../src/errors.js'
import type { Logger } from '../../src/logger.js'
import type { DelayedBackend } from './backend.js'
import { decodeRecord, encodeRecord, type DelayedRecord } from './record.js'

// KEYS: due, ids, records; ARGV: id, dueAt, bytes, maxPending
const ADD = `
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1`

// KEYS: due; ARGV: now, lease end, limit
const CLAIM = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id) end
return ids`

type ScriptedRedis = Redis & {
  delayedAdd: (due: string, ids: string, records: string, id: string, dueAt: number, bytes: Buffer, maxPending: number) => Promise<number>
  delayedClaim: (due: string, now: number, leaseEnd: number, limit: number) => Promise<string[]>
}

export class RedisBackend implements DelayedBackend {
  readonly name = 'redis'
  private readonly redis: ScriptedRedis
  private readonly keys: { due: string, ids: string, records: string }

  /** leaseMs: how long a claim holds a record before another node may publish it. */
  constructor (url: string, private readonly log: Logger, private readonly leaseMs = 30_000, prefix = 'swallow:delayed:') {
    this.keys = { due: prefix + 'due', ids: prefix + 'ids', records: prefix + 'records' }
    this.redis = new Redis(url, { lazyConnect: true, connectionName: 'swallow-delayed' }) as ScriptedRedis
    this.redis.defineCommand('delayedAdd', { numberOfKeys: 3, lua: ADD })
    this.redis.defineCommand('delayedClaim', { numberOfKeys: 1, lua: CLAIM })
    let down = false
    this.redis.on('error', (err: Error) => {
      if (down) return
      down = true
      log.error({ err: err.message }, 'delayed publish: Redis connection lost; delayed PUBLISHes are not acknowledged and releases wait until it is back')
    })
    this.redis.on('ready', () => {
      if (!down) return
      down = false
      log.info('delayed publish: Redis connection back')
    })
  }

  async open (): Promise<void> {
    try {
      await this.redis.connect()
    } catch (err) {
      throw new StartupError(`delayed publish: cannot connect to Redis at --redis-url: ${(err as Error).message}`)
    }
  }

  async add (record: DelayedRecord, maxPending: number): Promise<boolean> {
    const k = this.keys
    return await this.redis.delayedAdd(k.due, k.ids, k.records, record.id, record.dueAt, encodeRecord(record), maxPending) === 1
  }

  async claimDue (now: number, limit: number): Promise<DelayedRecord[]> {
    const ids = await this.redis.delayedClaim(this.keys.due, now, now + this.leaseMs, limit)
    const { records, unreadable } = await this.records(ids)
    // Nothing can publish them, and left in place they would be claimed again every lease.
    for (const id of unreadable) {
      this.log.error({ id }, 'delayed publish: a record in Redis that cannot be read is deleted')
      await this.remove(id)
    }
    return records
  }

  async nextDue (): Promise<number | null> {
    const [, score] = await this.redis.zrange(this.keys.due, 0, 0, 'WITHSCORES')
    return score === undefined ? null : Number(score)
  }

  async remove (id: string): Promise<boolean> {
    const k = this.keys
    const results = await this.redis.multi().hdel(k.records, id).zrem(k.ids, id).zrem(k.due, id).exec()
    if (results === null) throw new Error('delayed publish: Redis aborted the removal')
    const [err, deleted] = results[0]
    if (err) throw err
    return deleted === 1
  }

  async page (after: string | null, limit: number): Promise<DelayedRecord[]> {
    const ids = await this.redis.zrangebylex(this.keys.ids, after === null ? '-' : `(${after}`, '+', 'LIMIT', 0, limit)
    return (await this.records(ids)).records
  }

  async pending (): Promise<number> {
    return await this.redis.zcard(this.keys.ids)
  }

  async close (): Promise<void> {
    await this.redis.quit().catch(() => {})
  }

  /** The records of `ids` (one cancelled between the two reads is left out); `unreadable`: bytes that are not a record. */
  private async records (ids: string[]): Promise<{ records: DelayedRecord[], unreadable: string[] }> {
    const records: DelayedRecord[] = []
    const unreadable: string[] = []
    if (ids.length === 0) return { records, unreadable }
    const values = await this.redis.hmgetBuffer(this.keys.records, ...ids)
    for (let i = 0; i < ids.length; i++) {
      const bytes = values[i]
      if (bytes === null) continue
      const record = decodeRecord(ids[i], bytes)
      if (record !== undefined) records.push(record)
      else unreadable.push(ids[i])
    }
    return { records, unreadable }
  }
}
