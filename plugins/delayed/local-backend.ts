// The backends of one node: embedded (its own LevelDB under <data dir>/delayed, like the
// retained store's) and memory. Record keys are "r" + id, so LevelDB keeps them in due order.
// Both keep the set of pending ids in memory (loaded at start), which makes a release and a
// cancellation of the same record remove it once.
import type { ClassicLevel } from 'classic-level'
import { afterLoad, closeGuarded, createAndOpenGuarded, startFailure, type GuardedStore } from '../../src/level-guard.js'
import { LevelWriteGate } from '../../src/level-write-gate.js'
import type { Logger } from '../../src/logger.js'
import type { WriteHealth } from '../../src/write-health.js'
import type { DelayedBackend } from './backend.js'
import { decodeRecord, dueOf, encodeRecord, idBound, type DelayedRecord } from './record.js'

const RECORD = 'r'
const AFTER_RECORDS = 's'
const COUNT_LABEL = 'delayed messages'

export class LevelBackend implements DelayedBackend {
  readonly name = 'embedded'
  // Made by open(), after the checks of src/level-guard.ts.
  private db!: ClassicLevel<string, Buffer>
  private gate!: LevelWriteGate
  private readonly ids = new Set<string>()
  private readonly store: GuardedStore

  constructor (location: string, dataDir: string, private readonly log: Logger, private readonly writes: WriteHealth) {
    this.store = { label: 'delayed-publish store', location, dataDir }
  }

  async open (): Promise<void> {
    this.db = await createAndOpenGuarded(this.store)
    this.gate = new LevelWriteGate(this.db, this.store.label, this.store.location, this.writes)
    try {
      const it = this.db.keys({ gte: RECORD, lt: AFTER_RECORDS })
      try {
        for (let keys = await it.nextv(10_000); keys.length > 0; keys = await it.nextv(10_000)) for (const key of keys) this.ids.add(key.slice(1))
      } finally {
        await it.close()
      }
    } catch (err) {
      await this.db.close().catch(() => {})
      throw startFailure(this.store, err)
    }
    await afterLoad(this.store, { [COUNT_LABEL]: this.ids.size }, this.log)
  }

  async add (record: DelayedRecord, maxPending: number): Promise<boolean> {
    if (this.ids.size >= maxPending) return false
    this.ids.add(record.id)
    try {
      // sync: false, as the sessions and retained stores: written to the OS before it resolves,
      // so it survives kill -9 of the broker (not a power cut).
      await this.gate.run(() => this.db.put(RECORD + record.id, encodeRecord(record)))
    } catch (err) {
      this.ids.delete(record.id)
      throw err
    }
    return true
  }

  async claimDue (now: number, limit: number): Promise<DelayedRecord[]> {
    const { records, unreadable } = await this.read({ gte: RECORD, lte: RECORD + idBound(now), limit })
    // Nothing can publish them, and left in place they would be due forever.
    for (const id of unreadable) {
      this.log.error({ id }, 'delayed-publish store: a record that cannot be read is deleted')
      await this.remove(id)
    }
    return records
  }

  async nextDue (): Promise<number | null> {
    const [key] = await this.db.keys({ gte: RECORD, lt: AFTER_RECORDS, limit: 1 }).all()
    return key === undefined ? null : dueOf(key.slice(1))
  }

  async remove (id: string): Promise<boolean> {
    if (!this.ids.delete(id)) return false
    await this.gate.run(() => this.db.del(RECORD + id))
    return true
  }

  async page (after: string | null, limit: number): Promise<DelayedRecord[]> {
    return (await this.read(after === null ? { gte: RECORD, lt: AFTER_RECORDS, limit } : { gt: RECORD + after, lt: AFTER_RECORDS, limit })).records
  }

  async pending (): Promise<number> {
    return this.ids.size
  }

  async close (): Promise<void> {
    this.gate.close()
    await closeGuarded(this.db, this.store, this.gate.open ? { [COUNT_LABEL]: this.ids.size } : false, () => this.db.close())
  }

  private async read (range: { gte?: string, gt?: string, lte?: string, lt?: string, limit: number }): Promise<{ records: DelayedRecord[], unreadable: string[] }> {
    const entries = await this.db.iterator<string, Uint8Array>({ ...range, valueEncoding: 'view' }).all()
    const records: DelayedRecord[] = []
    const unreadable: string[] = []
    for (const [key, value] of entries) {
      const record = decodeRecord(key.slice(1), value)
      if (record !== undefined) records.push(record)
      else unreadable.push(key.slice(1))
    }
    return { records, unreadable }
  }
}

/** --storage memory: the same behaviour, lost on exit. */
export class MemoryBackend implements DelayedBackend {
  readonly name = 'memory'
  private readonly records = new Map<string, DelayedRecord>()
  /** The ids in due order. */
  private readonly sorted: string[] = []

  async open (): Promise<void> {}

  async add (record: DelayedRecord, maxPending: number): Promise<boolean> {
    if (this.records.size >= maxPending) return false
    this.records.set(record.id, record)
    this.sorted.splice(this.after(record.id), 0, record.id)
    return true
  }

  async claimDue (now: number, limit: number): Promise<DelayedRecord[]> {
    const end = Math.min(this.after(idBound(now)), limit)
    return this.sorted.slice(0, end).map(id => this.records.get(id) as DelayedRecord)
  }

  async nextDue (): Promise<number | null> {
    return this.sorted.length === 0 ? null : dueOf(this.sorted[0])
  }

  async remove (id: string): Promise<boolean> {
    if (!this.records.delete(id)) return false
    this.sorted.splice(this.after(id) - 1, 1)
    return true
  }

  async page (after: string | null, limit: number): Promise<DelayedRecord[]> {
    const start = after === null ? 0 : this.after(after)
    return this.sorted.slice(start, start + limit).map(id => this.records.get(id) as DelayedRecord)
  }

  async pending (): Promise<number> {
    return this.records.size
  }

  async close (): Promise<void> {
    this.records.clear()
    this.sorted.length = 0
  }

  /** The index of the first id sorting after `id` (binary search). */
  private after (id: string): number {
    let lo = 0
    let hi = this.sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.sorted[mid] <= id) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}
