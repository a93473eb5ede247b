// Session storage: embedded (LevelDB under --data-dir) or memory. Opens the Aedes
// persistence, times every storage operation into /metrics, and reports its state.
import { randomUUID } from 'node:crypto'
import { join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import type { ClassicLevel } from 'classic-level'
import MemoryPersistence from 'aedes-persistence/asyncPersistence.js'
import LevelPersistence from 'aedes-persistence-level/asyncPersistence.js'
import RedisPersistence from 'aedes-persistence-redis/asyncPersistence.js'
import type { Redis } from 'ioredis'
import type { AnyOperation, Implementations } from './storage-operations.js'
import { SessionIndex, type StoredSessions } from './session-index.js'
import { orderStorageCompletions } from './ordered-updates.js'
import { ClusterEmitter } from './cluster-emitter.js'
import { probeRedis, RedisHealthMonitor } from './redis.js'
import type { Config, StorageKind } from './config.js'
import { StartupError } from './errors.js'
import { isNoSuchPacket } from './aedes-seam.js'
import { LevelWriteGate } from './level-write-gate.js'
import { WriteHealth } from './write-health.js'
import { afterLoad, closeGuarded, createAndOpenGuarded, startFailure, type GuardedStore } from './level-guard.js'
import type { Logger } from './logger.js'
import type { CoreMetrics } from './metrics.js'

/** The async persistence interface Aedes 1.x calls (aedes-persistence 11). */
export interface AsyncPersistence {
  setup: (broker: unknown) => Promise<void>
  destroy: () => Promise<void>
  [method: string]: unknown
}

export type StorageState = 'ok' | 'degraded' | 'closed'

export interface StorageHandles {
  kind: StorageKind
  /** Absolute data directory; plugins keep their own files under it. */
  dataDir: string
  /** The Redis URL when --storage redis (plugins open their own connections to it), else null. */
  redisUrl: string | null
  persistence: AsyncPersistence
  /**
   * Replaces one persistence operation (e.g. the retained store takes storeRetained and
   * createRetainedStream[Combi]); the core's timing, pending count and stream adapter stay.
   */
  replaceOperation: (op: string, fn: AnyOperation) => void
  /** Which client ids may have stored sessions or wills (embedded storage); null: unknown, assume any. */
  storedSessions: StoredSessions | null
  /** The broker's id; with Redis storage, its id in the cluster. */
  nodeId: string
  /** Redis storage: the shared subscription groups' connection (src/protocol/shared-stream.ts), else null. */
  sharedRedis: Redis | null
  /** The message router to give Aedes: a ClusterEmitter with Redis storage, else none (Aedes's own). */
  mq: ClusterEmitter | null
  state: () => StorageState
  /** Stores whose writes fail (disk full): the core's and the plugins' report here; any makes state() degraded. */
  writes: WriteHealth
  /** Storage operations started and not yet finished. */
  pendingOperations: () => number
  /** Resolves true once no operation is pending (and the acks they release are written), false on timeout. */
  quiesce: (timeoutMs: number) => Promise<boolean>
  close: () => Promise<void>
}

const TIMING_SAMPLE = 16

// Counting the records for the clean-stop marker must not hold a shutdown up for long.
const COUNT_BUDGET_MS = 2000

// Operations worth a latency histogram: the ones on the message and connect paths.
const TIMED_OPERATIONS = [
  'storeRetained', 'addSubscriptions', 'removeSubscriptions', 'subscriptionsByClient', 'subscriptionsByTopic',
  'cleanSubscriptions', 'outgoingEnqueue', 'outgoingEnqueueCombi', 'outgoingUpdate', 'outgoingClearMessageId',
  'incomingStorePacket', 'incomingGetPacket', 'incomingDelPacket', 'cleanIncoming', 'putWill', 'getWill', 'delWill'
]

// The operations that write to the sessions store (src/level-write-gate.ts gates them).
const WRITE_OPERATIONS = [
  'storeRetained', 'addSubscriptions', 'removeSubscriptions', 'cleanSubscriptions', 'outgoingEnqueue', 'outgoingEnqueueCombi',
  'outgoingUpdate', 'outgoingClearMessageId', 'incomingStorePacket', 'incomingDelPacket', 'cleanIncoming', 'putWill', 'delWill'
]

export async function openStorage (config: Config, log: Logger, metrics: CoreMetrics): Promise<StorageHandles> {
  const dataDir = resolve(config.dataDir)
  const nodeId = randomUUID()
  let state: StorageState = 'ok'
  const writes = new WriteHealth(log.child({ module: 'storage' }), () => { metrics.storageUp.set(currentState() === 'ok' ? 1 : 0) })
  const currentState = (): StorageState => state === 'ok' && writes.degraded ? 'degraded' : state
  let persistence: AsyncPersistence
  let mq: ClusterEmitter | null = null
  let writer: Redis | null = null
  let sharedRedis: Redis | null = null
  let sessionIndex: SessionIndex | null = null
  let embedded: { db: ClassicLevel<string, Buffer>, store: GuardedStore, gate: LevelWriteGate } | null = null
  if (config.storage === 'embedded') {
    const store: GuardedStore = { label: 'sessions store', location: join(dataDir, 'sessions'), dataDir }
    const db = await createAndOpenGuarded(store, '--data-dir')
    try {
      sessionIndex = await SessionIndex.load(db)
    } catch (err) {
      await db.close().catch(() => {})
      throw startFailure(store, err)
    }
    await afterLoad(store, sessionIndex.counts, log)
    embedded = { db, store, gate: new LevelWriteGate(db, store.label, store.location, writes) }
    persistence = new LevelPersistence(db)
  } else if (config.storage === 'redis') {
    await probeRedis(config.redisUrl)
    const health = new RedisHealthMonitor(log, next => {
      if (state === 'closed') return
      state = next
      metrics.storageUp.set(currentState() === 'ok' ? 1 : 0)
    })
    // maxSessionDelivery: aedes-persistence-redis hands a reconnecting session only the first N
    // queued messages (default 1000) and leaves the rest until a later reconnect; deliver all.
    persistence = new RedisPersistence({ conn: health.connect('persistence', config.redisUrl), maxSessionDelivery: 10_000_000 })
    writer = health.connect('routes-writer', config.redisUrl, { enableAutoPipelining: true })
    sharedRedis = health.connect('shared-groups', config.redisUrl)
    mq = new ClusterEmitter({
      nodeId,
      writer,
      reader: health.connect('routes-reader', config.redisUrl),
      subscriber: health.connect('routes-subscriber', config.redisUrl),
      streamKey: 'swallow:routes',
      maxLen: config.redisRouteMaxlen,
      concurrency: 100,
      log: log.child({ module: 'cluster' }),
      onLost: (reason, count) => metrics.dropped.inc({ reason }, count)
    })
    await mq.start()
  } else {
    persistence = new MemoryPersistence()
  }
  // The wrappers below call the implementation found here at call time, so that a plugin
  // can replace an operation (replaceOperation) and keep the timing and stream adapters.
  const impl: Implementations = {}
  for (const op of [...STREAM_OPERATIONS, ...TIMED_OPERATIONS]) {
    if (typeof persistence[op] === 'function') impl[op] = (persistence[op] as AnyOperation).bind(persistence)
  }
  sessionIndex?.wrap(impl)
  embedded?.gate.wrap(impl, WRITE_OPERATIONS)
  orderStorageCompletions(impl)
  returnStreams(persistence, impl)
  const pending = timeOperations(persistence, impl, metrics)
  metrics.storageUp.set(1)
  log.debug({ storage: config.storage, dataDir, ...(sessionIndex ? { indexed: sessionIndex.size } : {}) }, 'storage open')
  return {
    kind: config.storage,
    dataDir,
    redisUrl: config.storage === 'redis' ? config.redisUrl : null,
    persistence,
    replaceOperation (op, fn) {
      if (!(op in impl)) throw new Error(`storage has no operation ${op} to replace`)
      impl[op] = fn
    },
    storedSessions: sessionIndex,
    nodeId,
    sharedRedis,
    mq,
    state: currentState,
    writes,
    pendingOperations: () => pending.count,
    async quiesce (timeoutMs) {
      const deadline = Date.now() + timeoutMs
      // Idle across a few event-loop turns: the callbacks that write PUBACK/PUBREC run after the operation resolves.
      for (let idleTurns = 0; idleTurns < 3;) {
        if (Date.now() > deadline) return false
        await new Promise(resolve => setTimeout(resolve, pending.count === 0 ? 0 : 5))
        idleTurns = pending.count === 0 ? idleTurns + 1 : 0
      }
      return true
    },
    async close () {
      if (state === 'closed') return
      state = 'closed'
      metrics.storageUp.set(0)
      // Each persistence's destroy closes its own database or connection.
      if (embedded) {
        const { db, store, gate } = embedded
        gate.close()
        // While writes are refused, the clean-stop sentinel must not go into the broken log either.
        const counts = gate.open ? await SessionIndex.count(db, COUNT_BUDGET_MS).catch(() => null) : null
        await closeGuarded(db, store, gate.open ? counts : false, () => persistence.destroy())
      } else {
        await persistence.destroy()
      }
      writer?.disconnect()
      sharedRedis?.disconnect()
    }
  }
}

// Aedes pipes these results; some async persistences return async generators instead of streams.
const STREAM_OPERATIONS = ['createRetainedStream', 'createRetainedStreamCombi', 'outgoingStream', 'streamWill', 'getClientList']


function returnStreams (persistence: AsyncPersistence, impl: Implementations): void {
  for (const op of STREAM_OPERATIONS) {
    if (!(op in impl)) continue
    persistence[op] = function streamed (...args: unknown[]) {
      const result = impl[op](...args)
      return result instanceof Readable ? result : Readable.from(result as AsyncIterable<unknown>)
    }
  }
}

function timeOperations (persistence: AsyncPersistence, impl: Implementations, metrics: CoreMetrics): { count: number } {
  const pending = { count: 0 }
  const finished = (): void => { pending.count-- }
  for (const op of TIMED_OPERATIONS) {
    if (!(op in impl)) continue
    const observe = metrics.storageOps.labels(op)
    const errors = metrics.storageErrors.labels(op)
    const countFailure = (err: unknown): void => { if (!isNoSuchPacket(err)) errors.inc() }
    let n = 0
    persistence[op] = function timed (...args: unknown[]) {
      pending.count++
      const result = impl[op](...args) as Promise<unknown>
      // The histogram samples one operation in TIMING_SAMPLE: timing all of them cost ~9% of
      // the broker's busy time in the 1->1 QoS 1 benchmark.
      if (n++ % TIMING_SAMPLE !== 0) {
        result.then(finished, err => { finished(); countFailure(err) })
      } else {
        const start = performance.now()
        const record = (): void => {
          pending.count--
          observe.observe((performance.now() - start) / 1000)
        }
        result.then(record, err => { record(); countFailure(err) })
      }
      return result
    }
  }
  return pending
}
