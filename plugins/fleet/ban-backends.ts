// Where bans are kept, by --storage:
//  - embedded: a LevelDB of its own under --data-dir (bans/), each change written with
//    sync: true: a ban the API confirmed survives kill -9, a restart and a power cut;
//  - memory: in the process only (gone at exit, as everything of memory storage);
//  - redis: the hash swallow:fleet:bans, shared by the cluster; a change is announced on
//    the channel swallow:fleet:bans-changed so every node reloads and closes the clients a
//    new ban matches. While Redis is unreachable, changes fail (503) and every node keeps
//    refusing the bans it knew; a node that starts while Redis is down does not start.
import { join } from 'node:path'
import type { ClassicLevel } from 'classic-level'
import { Redis } from 'ioredis'
import { afterLoad, closeGuarded, createAndOpenGuarded, type GuardedStore } from '../../src/level-guard.js'
import type { Logger } from '../../src/logger.js'
import type { StorageHandles } from '../../src/storage.js'
import type { Ban, BanKind } from './bans.js'

export interface BanBackend {
  load: () => Promise<Ban[]>
  put: (ban: Ban) => Promise<void>
  /** False when it was not there. */
  remove: (kind: BanKind, value: string) => Promise<boolean>
  /** Tells the other nodes the bans changed (Redis only); after the API closed the clients, so their kick is counted once. */
  announce: () => Promise<void>
  /** Another node changed the bans (Redis only). */
  onChange: (listener: () => void) => void
  close: () => Promise<void>
}

const id = (kind: BanKind, value: string): string => `${kind}:${value}`

export async function openBanBackend (storage: StorageHandles, log: Logger): Promise<BanBackend> {
  if (storage.kind === 'redis' && storage.redisUrl !== null) return await redisBackend(storage.redisUrl, storage.nodeId, log)
  if (storage.kind === 'embedded') return await levelBackend(storage.dataDir, log)
  return memoryBackend()
}

function memoryBackend (): BanBackend {
  const bans = new Map<string, Ban>()
  return {
    load: async () => [...bans.values()],
    put: async ban => { bans.set(id(ban.kind, ban.value), ban) },
    remove: async (kind, value) => bans.delete(id(kind, value)),
    announce: async () => {},
    onChange: () => {},
    close: async () => {}
  }
}

async function levelBackend (dataDir: string, log: Logger): Promise<BanBackend> {
  const store: GuardedStore = { label: 'bans store', location: join(dataDir, 'bans'), dataDir }
  const db: ClassicLevel<string, Buffer> = await createAndOpenGuarded(store)
  const load = async (): Promise<Ban[]> => {
    const out: Ban[] = []
    for await (const [k, v] of db.iterator()) if (!k.startsWith('~')) out.push(JSON.parse(v.toString()) as Ban)
    return out
  }
  await afterLoad(store, { bans: (await load()).length }, log)
  return {
    load,
    put: async ban => { await db.put(id(ban.kind, ban.value), Buffer.from(JSON.stringify(ban)), { sync: true }) },
    remove: async (kind, value) => {
      const k = id(kind, value)
      const had = (await db.get(k)) !== undefined
      if (had) await db.del(k, { sync: true })
      return had
    },
    announce: async () => {},
    onChange: () => {},
    close: async () => {
      const count = (await load().catch(() => null))?.length
      await closeGuarded(db, store, count === undefined ? null : { bans: count }, () => db.close())
    }
  }
}

const HASH = 'swallow:fleet:bans'
const CHANNEL = 'swallow:fleet:bans-changed'

async function redisBackend (url: string, nodeId: string, log: Logger): Promise<BanBackend> {
  // Commands fail after a few retries instead of queueing forever: the API answers 503.
  const redis = new Redis(url, { lazyConnect: true, connectionName: 'swallow-fleet-bans', maxRetriesPerRequest: 2, commandTimeout: 2000 })
  const sub = new Redis(url, { lazyConnect: true, connectionName: 'swallow-fleet-bans-sub' })
  redis.on('error', () => {})
  sub.on('error', () => {})
  await redis.connect()
  await sub.connect()
  const listeners: Array<() => void> = []
  await sub.subscribe(CHANNEL)
  sub.on('message', (_channel: string, from: string) => {
    if (from !== nodeId) for (const l of listeners) l()
  })
  // Resubscribed after a reconnect by ioredis; what changed meanwhile is read once it is back.
  sub.on('ready', () => { for (const l of listeners) l() })
  const announce = async (): Promise<void> => { await redis.publish(CHANNEL, nodeId).catch(err => log.warn({ err }, 'bans: could not tell the other nodes; they read the bans again when Redis is back')) }
  return {
    load: async () => Object.values(await redis.hgetall(HASH)).map(v => JSON.parse(v) as Ban),
    put: async ban => { await redis.hset(HASH, id(ban.kind, ban.value), JSON.stringify(ban)) },
    remove: async (kind, value) => await redis.hdel(HASH, id(kind, value)) > 0,
    announce,
    onChange: listener => { listeners.push(listener) },
    close: async () => {
      log.debug('bans: closing Redis connections')
      redis.disconnect()
      sub.disconnect()
    }
  }
}
