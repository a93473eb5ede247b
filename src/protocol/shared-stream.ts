// The Redis side of a shared group that spans cluster nodes (shared-cluster.ts): per group
//   swallow:shared:stream:<key>      a Stream with one consumer group ("members"); each node
//                                    is a consumer named by its node id
//   swallow:shared:seen:<key>:<id>   set once per message (brokerId:brokerCounter), with a
//                                    TTL: the hand-off into the stream happens once however
//                                    many nodes route the message
//   swallow:shared:leases:<key>      node id -> until when (ms, Redis clock) it has a member
//                                    connected; a dead node's lease runs out
//   swallow:shared:persistent:<key>  client ids of persistent-session members (connected or
//                                    not): the group keeps QoS 1/2 messages for them
// and per client id swallow:shared:client:<id>, the groups it is a persistent member of.
import type { Redis } from 'ioredis'
import { decodeStreamEntry, streamFields } from '../cluster-emitter.js'
import type { RoutedPacket } from './types.js'

const CONSUMER_GROUP = 'members'
const PREFIX = 'swallow:shared:'

// KEYS: stream, seen, leases, persistent, members. ARGV: seen TTL ms, backlog limit, qos,
// mode, consumer group, node id, defer to, hash key, fields...
//  - mode 'take' (local strategy; this node has a member with room): the entry is read for
//    this node in the same step, the oldest entry no node has read (this one unless older
//    ones wait). 'sticky' / 'hash': when no older entry waits, the member is picked from the
//    members connected on nodes holding a lease (the earliest joined; or by the SHA-1 of the
//    hash key over them sorted by client id), named in the entry (field m) and the entry read
//    for that member's node. Read entries are in that node's pending list like any read.
//  - defer to (local strategy, a message published on another node): that node's id; while
//    it holds a lease it hands the message off itself (its PUBACK waits for that).
// 0: handed off already (or deferred); 1: added; 2: no member anywhere (the stream is deleted: nobody
// will read it); 3: QoS 0 and nobody connected; 4: the stream is full (--shared-backlog);
// {5, id, fields}: added and read for this node; 6: added and read for another node.
const HAND_OFF = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local function live (node)
  local leased = redis.call('ZSCORE', KEYS[3], node)
  return leased and tonumber(leased) > now
end
if ARGV[7] ~= '' and live(ARGV[7]) then return 0 end
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[3]) == 0 then
  if redis.call('SCARD', KEYS[4]) == 0 then
    redis.call('DEL', KEYS[1])
    return 2
  end
  if ARGV[3] == '0' then return 3 end
end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 4 end
local function waiting ()
  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  if #last == 0 then return false end
  local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
  if not ok then return true end
  for _, g in ipairs(groups) do
    local f = {}
    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
    if f['name'] == ARGV[5] then return f['last-delivered-id'] ~= last[1][1] end
  end
  return true
end
local reader, member = nil, ''
if ARGV[4] == 'take' then
  reader = ARGV[6]
elseif ARGV[4] ~= '' and not waiting() then
  local all = redis.call('HGETALL', KEYS[5])
  local members = {}
  for i = 1, #all, 2 do
    local sep = string.find(all[i + 1], ':', 1, true)
    local node = string.sub(all[i + 1], sep + 1)
    if live(node) then table.insert(members, { id = all[i], joined = tonumber(string.sub(all[i + 1], 1, sep - 1)), node = node }) end
  end
  if #members > 0 then
    table.sort(members, function (x, y) return x.id < y.id end)
    local pick = members[1]
    if ARGV[4] == 'sticky' then
      for _, m in ipairs(members) do if m.joined < pick.joined then pick = m end end
    else
      pick = members[tonumber(string.sub(redis.sha1hex(ARGV[8]), 1, 8), 16) % #members + 1]
    end
    reader, member = pick.node, pick.id
  end
end
redis.call('XADD', KEYS[1], '*', 'm', member, unpack(ARGV, 9))
if not reader then return 1 end
local read = function () return redis.call('XREADGROUP', 'GROUP', ARGV[5], reader, 'COUNT', 1, 'STREAMS', KEYS[1], '>') end
local ok, res = pcall(read)
if not ok then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[5], '0')
  res = read()
end
if not res then return 1 end
if reader ~= ARGV[6] then return 6 end
local entry = res[1][2][1]
return {5, entry[1], entry[2]}`

// KEYS: members. ARGV: client id, node id. A member leaving this node: forgotten unless it
// is connected on another node by now (joined there, recorded there).
const UNREGISTER = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.sub(v, -#ARGV[2] - 1) == ':' .. ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1`

// KEYS: leases. ARGV: node id, lease ms.
const LEASE = `
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[2]), ARGV[1])
return 1`

// KEYS: the client's set of groups. ARGV: prefix of the persistent sets, client id.
const FORGET = `
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do redis.call('SREM', ARGV[1] .. key, ARGV[2]) end
redis.call('DEL', KEYS[1])
return 1`

// KEYS: stream. ARGV: consumer group, idle ms. Deletes the consumers (nodes that stopped or
// died; a node id is new at each start) that hold nothing and did not read for that long,
// in one step, so none reads in between. A live node reading again comes back by itself.
const PRUNE = `
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return 0 end
local n = 0
for _, c in ipairs(consumers) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['pending'] == 0 and f['idle'] > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    n = n + 1
  end
end
return n`

export const HandOff = { seen: 0, added: 1, noMember: 2, nobodyConnected: 3, full: 4, assigned: 6 } as const
export type HandOffResult = typeof HandOff[keyof typeof HandOff]
const TAKEN = 5

/** How the hand-off picks a reader: none (any node pulls), this node (local), or a member cluster-wide. */
export type HandOffMode = '' | 'take' | 'sticky' | 'hash'

export interface StreamEntry {
  id: string
  message: RoutedPacket
  /** The member the hand-off picked (sticky, hash_* strategies), when it picked one. */
  member?: string
}

type RawEntries = Array<[Buffer, Buffer[] | null]>

interface SharedCommands {
  swallowSharedHandOffBuffer: (...args: Array<string | Buffer | number>) => Promise<number | [number, Buffer, Buffer[]]>
  swallowSharedLease: (...args: Array<string | number>) => Promise<number>
  swallowSharedForget: (...args: string[]) => Promise<number>
  swallowSharedUnregister: (...args: string[]) => Promise<number>
  swallowSharedPrune: (...args: Array<string | number>) => Promise<number>
}

/** The commands of this node on the shared groups' Redis keys. */
export class SharedStreams {
  private readonly redis: Redis & SharedCommands

  constructor (redis: Redis, readonly nodeId: string, private readonly seenTtl: number, private readonly limit: number) {
    redis.defineCommand('swallowSharedHandOff', { numberOfKeys: 5, lua: HAND_OFF })
    redis.defineCommand('swallowSharedLease', { numberOfKeys: 1, lua: LEASE })
    redis.defineCommand('swallowSharedForget', { numberOfKeys: 1, lua: FORGET })
    redis.defineCommand('swallowSharedUnregister', { numberOfKeys: 1, lua: UNREGISTER })
    redis.defineCommand('swallowSharedPrune', { numberOfKeys: 1, lua: PRUNE })
    this.redis = redis as Redis & SharedCommands
  }

  /**
   * Adds the message to the group's stream unless a node did already (see HAND_OFF); `mode`
   * may have it read for a node in the same step (`taken`: read for this one, deliver it
   * here); `deferTo`: a node that hands it off itself while it holds a lease.
   */
  async handOff (key: string, message: RoutedPacket, mode: HandOffMode = '', deferTo = '', hashKey = ''): Promise<{ result: HandOffResult, taken: StreamEntry | null }> {
    const identity = `${message.brokerId ?? this.nodeId}:${message.brokerCounter ?? 0}`
    const res = await this.redis.swallowSharedHandOffBuffer(stream(key), `${PREFIX}seen:${key}:${identity}`, `${PREFIX}leases:${key}`,
      `${PREFIX}persistent:${key}`, `${PREFIX}members:${key}`, this.seenTtl, this.limit, String(message.qos), mode, CONSUMER_GROUP, this.nodeId,
      deferTo, hashKey, ...streamFields(this.nodeId, message))
    if (typeof res === 'number') return { result: res as HandOffResult, taken: null }
    if (res[0] !== TAKEN) throw new Error(`unexpected shared hand-off reply ${String(res[0])}`)
    return { result: HandOff.added, taken: decode([[res[1], res[2]]])[0] ?? null }
  }

  /** A member connected here (the sticky and hash_* strategies pick among these cluster-wide). */
  async register (key: string, clientId: string): Promise<void> {
    await this.redis.hset(`${PREFIX}members:${key}`, clientId, `${Date.now()}:${this.nodeId}`)
  }

  async unregister (key: string, clientId: string): Promise<void> {
    await this.redis.swallowSharedUnregister(`${PREFIX}members:${key}`, clientId, this.nodeId)
  }

  /** Entries the hand-off read for this node's members, after `cursor` (an entry id), up to `count`. */
  async assigned (key: string, count: number, cursor: string): Promise<StreamEntry[]> {
    const res = await this.redis.callBuffer('XREADGROUP', 'GROUP', CONSUMER_GROUP, this.nodeId, 'COUNT', count, 'STREAMS', stream(key), cursor)
      .catch((err: Error) => { if (String(err.message).startsWith('NOGROUP')) return null; throw err }) as Array<[Buffer, RawEntries]> | null
    return res === null ? [] : decode(res[0][1])
  }

  /** Entries no consumer has read yet, up to `count`; creates the consumer group when missing (first use, Redis restarted). */
  async read (key: string, count: number): Promise<StreamEntry[]> {
    try {
      return await this.readGroup(key, count)
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOGROUP')) throw err
      await this.redis.xgroup('CREATE', stream(key), CONSUMER_GROUP, '0', 'MKSTREAM').catch(() => {}) // BUSYGROUP: another node made it
      return await this.readGroup(key, count)
    }
  }

  private async readGroup (key: string, count: number): Promise<StreamEntry[]> {
    const res = await this.redis.callBuffer('XREADGROUP', 'GROUP', CONSUMER_GROUP, this.nodeId, 'COUNT', count, 'STREAMS', stream(key), '>') as Array<[Buffer, RawEntries]> | null
    return res === null ? [] : decode(res[0][1])
  }

  /**
   * Entries some consumer read and did not acknowledge for `idleMs` (a dead node's): now this
   * node's. Scans the pending entries from `cursor` on; `next` is where the next call goes on
   * ('0-0': from the start again).
   */
  async claim (key: string, idleMs: number, count: number, cursor: string): Promise<{ entries: StreamEntry[], next: string }> {
    const res = await this.redis.callBuffer('XAUTOCLAIM', stream(key), CONSUMER_GROUP, this.nodeId, idleMs, cursor, 'COUNT', count)
      .catch((err: Error) => { if (String(err.message).startsWith('NOGROUP')) return null; throw err }) as [Buffer, RawEntries] | null
    return res === null ? { entries: [], next: '0-0' } : { entries: decode(res[1]), next: res[0].toString() }
  }

  /** Entries this node's members hold: not idle, so no other node claims them. */
  async touch (key: string, ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.xclaim(stream(key), CONSUMER_GROUP, this.nodeId, 0, ...ids, 'JUSTID')
  }

  /** A member acknowledged the entry: it leaves the stream. */
  async ack (key: string, id: string): Promise<void> {
    await this.redis.multi().xack(stream(key), CONSUMER_GROUP, id).xdel(stream(key), id).exec()
  }

  /** No member here can take it: a copy goes to the end of the stream for any node, the entry leaves. */
  async giveBack (key: string, entry: StreamEntry): Promise<void> {
    await this.redis.multi().xadd(stream(key), '*', ...streamFields(this.nodeId, entry.message))
      .xack(stream(key), CONSUMER_GROUP, entry.id).xdel(stream(key), entry.id).exec()
  }

  /** This node has a member connected, for `ms` more. */
  async lease (key: string, ms: number): Promise<void> {
    await this.redis.swallowSharedLease(`${PREFIX}leases:${key}`, this.nodeId, ms)
  }

  /** This node has no member connected any more. */
  async release (key: string): Promise<void> {
    await this.redis.zrem(`${PREFIX}leases:${key}`, this.nodeId)
  }

  async addPersistent (key: string, clientId: string): Promise<void> {
    await this.redis.multi().sadd(`${PREFIX}persistent:${key}`, clientId).sadd(`${PREFIX}client:${clientId}`, key).exec()
  }

  async removePersistent (key: string, clientId: string): Promise<void> {
    await this.redis.multi().srem(`${PREFIX}persistent:${key}`, clientId).srem(`${PREFIX}client:${clientId}`, key).exec()
  }

  /** The client's session ended: a member of no group any more. */
  async forget (clientId: string): Promise<void> {
    await this.redis.swallowSharedForget(`${PREFIX}client:${clientId}`, `${PREFIX}persistent:`, clientId)
  }

  /** Forgets the consumers of nodes gone for `idleMs` (see PRUNE); how many. */
  async prune (key: string, idleMs: number): Promise<number> {
    return await this.redis.swallowSharedPrune(stream(key), CONSUMER_GROUP, idleMs)
  }

  /** Entries in the stream (waiting or with a member). */
  async depth (key: string): Promise<number> {
    return await this.redis.xlen(stream(key))
  }
}

function stream (key: string): string {
  return `${PREFIX}stream:${key}`
}

function decode (raw: RawEntries): StreamEntry[] {
  const out: StreamEntry[] = []
  for (const [id, fields] of raw) {
    // '' is no node's id: entries this node wrote are read back too.
    const message = fields === null ? null : decodeStreamEntry(fields, '')
    if (message === null) continue
    const m = fields?.findIndex((f, i) => i % 2 === 0 && f.length === 1 && f[0] === 0x6d) ?? -1 // 'm'
    const member = m === -1 ? '' : fields?.[m + 1]?.toString() ?? ''
    out.push(member === '' ? { id: id.toString(), message } : { id: id.toString(), message, member })
  }
  return out
}
