// The embedded backend: its own LevelDB under <data dir>/retained (not the sessions DB),
// and the memory backend for --storage memory. Both group-commit: writes that arrive while
// a batch is being written go together in the next batch, in arrival order, so the last
// retained message published to a topic is the one that stays.
import type { ClassicLevel } from 'classic-level'
import { afterLoad, closeGuarded, createAndOpenGuarded, startFailure, type GuardedStore } from '../../src/level-guard.js'
import type { Logger } from '../../src/logger.js'
import { LevelWriteGate } from '../../src/level-write-gate.js'
import type { WriteHealth } from '../../src/write-health.js'
import { decodeMeta, encodeMeta, type IndexSink, type RetainedBackend, type RetainedMeta, type WriteOp } from './backend.js'

interface Waiter { resolve: () => void, reject: (err: Error) => void }

type ResolvedOp = { type: 'put', topic: string, meta: RetainedMeta, payload: Buffer } | { type: 'del', topic: string }

abstract class GroupCommitBackend implements RetainedBackend {
  abstract readonly name: string
  protected sink: IndexSink | null = null
  private pending: WriteOp[] = []
  private waiters: Waiter[] = []
  private writing = false
  private idle: Array<() => void> = []

  abstract open (sink: IndexSink): Promise<void>
  abstract payloads (topics: string[]): Promise<Array<Buffer | undefined>>
  abstract imported (): Promise<boolean>
  abstract markImported (): Promise<void>
  /** Writes one batch durably. */
  protected abstract commit (ops: ResolvedOp[]): Promise<void>
  protected abstract shut (): Promise<void>

  write (ops: WriteOp[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      for (const op of ops) this.pending.push(op)
      this.waiters.push({ resolve, reject })
      if (!this.writing) void this.flush()
    })
  }

  private async flush (): Promise<void> {
    this.writing = true
    while (this.pending.length > 0) {
      const ops = this.resolve(this.pending)
      const waiters = this.waiters
      this.pending = []
      this.waiters = []
      try {
        if (ops.length > 0) await this.commit(ops)
        const sink = this.sink as IndexSink
        for (const op of ops) {
          if (op.type === 'put') sink.put(op.topic, op.meta)
          else sink.del(op.topic)
        }
        for (const w of waiters) w.resolve()
      } catch (err) {
        for (const w of waiters) w.reject(err as Error)
      }
    }
    this.writing = false
    for (const done of this.idle.splice(0)) done()
  }

  /** Turns expiry deletes into plain deletes, or drops them when the topic was stored again since. */
  private resolve (ops: WriteOp[]): ResolvedOp[] {
    if (!ops.some(op => op.type === 'expire')) return ops as ResolvedOp[]
    const sink = this.sink as IndexSink
    const touched = new Set<string>()
    const out: ResolvedOp[] = []
    for (const op of ops) {
      if (op.type === 'expire') {
        if (!touched.has(op.topic) && sink.get(op.topic)?.storedAt === op.storedAt) out.push({ type: 'del', topic: op.topic })
      } else {
        touched.add(op.topic)
        out.push(op)
      }
    }
    return out
  }

  async close (): Promise<void> {
    if (this.writing) await new Promise<void>(resolve => this.idle.push(resolve))
    await this.shut()
  }
}

// Key layout: "m" + topic -> metadata (read at start), "d" + topic -> payload.
const META = 'm'
const DATA = 'd'
const IMPORTED = '!imported'

export class LevelBackend extends GroupCommitBackend {
  readonly name = 'embedded'
  // Made by open(), after the checks of src/level-guard.ts.
  private db!: ClassicLevel<string, Buffer>
  private gate!: LevelWriteGate
  private readonly store: GuardedStore

  constructor (location: string, dataDir: string, private readonly log: Logger, private readonly writes: WriteHealth) {
    super()
    this.store = { label: 'retained store', location, dataDir }
  }

  async open (sink: IndexSink): Promise<void> {
    this.sink = sink
    this.db = await createAndOpenGuarded(this.store)
    this.gate = new LevelWriteGate(this.db, this.store.label, this.store.location, this.writes)
    let loaded: number
    try {
      loaded = await this.load(sink)
    } catch (err) {
      await this.db.close().catch(() => {})
      throw startFailure(this.store, err)
    }
    await afterLoad(this.store, { 'retained messages': loaded }, this.log)
  }

  private async load (sink: IndexSink): Promise<number> {
    let loaded = 0
    // nextv reads in large batches: one promise per 10k entries, not per entry.
    // Values as plain views: much cheaper than a Buffer each over a million entries.
    const it = this.db.iterator<string, Uint8Array>({ gte: META, lt: 'n', valueEncoding: 'view' })
    try {
      for (let entries = await it.nextv(10_000); entries.length > 0; entries = await it.nextv(10_000)) {
        for (const [key, value] of entries) {
          const meta = decodeMeta(value)
          if (meta !== undefined) {
            sink.put(key.slice(1), meta)
            loaded++
          }
        }
      }
    } finally {
      await it.close()
    }
    return loaded
  }

  protected async commit (ops: ResolvedOp[]): Promise<void> {
    const batch = this.db.batch()
    for (const op of ops) {
      if (op.type === 'put') {
        batch.put(META + op.topic, encodeMeta(op.meta))
        batch.put(DATA + op.topic, op.payload)
      } else {
        batch.del(META + op.topic)
        batch.del(DATA + op.topic)
      }
    }
    // sync: false - LevelDB hands the write to the OS before resolving: it survives kill -9
    // of the broker (not a power cut; that would need sync: true and costs a disk flush each).
    await this.gate.run(() => batch.write())
  }

  async payloads (topics: string[]): Promise<Array<Buffer | undefined>> {
    return await this.db.getMany(topics.map(t => DATA + t))
  }

  async imported (): Promise<boolean> {
    return await this.db.get(IMPORTED) !== undefined
  }

  async markImported (): Promise<void> {
    await this.gate.run(() => this.db.put(IMPORTED, Buffer.from('1')))
  }

  protected async shut (): Promise<void> {
    this.gate.close()
    const counts = this.gate.open ? { 'retained messages': await this.countMessages() } : false
    await closeGuarded(this.db, this.store, counts, () => this.db.close())
  }

  /** For the clean-stop marker: the metadata keys, one per retained message. */
  private async countMessages (): Promise<number> {
    let n = 0
    const it = this.db.keys({ gte: META, lt: 'n' })
    try {
      for (let keys = await it.nextv(10_000); keys.length > 0; keys = await it.nextv(10_000)) n += keys.length
    } finally {
      await it.close()
    }
    return n
  }
}

export class MemoryBackend extends GroupCommitBackend {
  readonly name = 'memory'
  private readonly data = new Map<string, Buffer>()

  async open (sink: IndexSink): Promise<void> {
    this.sink = sink
  }

  protected async commit (ops: ResolvedOp[]): Promise<void> {
    for (const op of ops) {
      if (op.type === 'put') this.data.set(op.topic, op.payload)
      else this.data.delete(op.topic)
    }
  }

  async payloads (topics: string[]): Promise<Array<Buffer | undefined>> {
    return topics.map(t => this.data.get(t))
  }

  // Memory session storage starts empty: nothing to import.
  async imported (): Promise<boolean> {
    return true
  }

  async markImported (): Promise<void> {}

  protected async shut (): Promise<void> {
    this.data.clear()
  }
}
