// What the bridge needs from a stream store, and the embedded (segment file) one.
// The Redis Streams store (redis-streams.ts) implements the same interface.
import { FileGroupStore, type GroupStore } from './log/groups.js'
import { streamDir } from './log/layout.js'
import { Log, type LogEvents, type LogOptions } from './log/log.js'
import { LogReader, type LogBounds } from './log/reader.js'
import type { LogRecord, RecordInput } from './log/record.js'
import type { Done } from './log/group-commit.js'
import type { DamageReport } from './log/damage.js'

export type StoreKind = 'embedded' | 'redis'

export interface StreamCursor {
  /** Offset of the next record read returns. */
  readonly nextOffset: number
  read: (max: number) => Promise<LogRecord[]>
  close: () => Promise<void>
}

export interface StreamStore {
  readonly name: string
  readonly kind: StoreKind
  /** `done` runs once the record is durable, or with the error that refused it. */
  appendDurable: (input: RecordInput, time: number, done: Done) => void
  /** `done` runs once the record is written (embedded: handed to the OS, fsynced within the
   *  sync interval; Redis: Redis replied, as appendDurable), or with the error that refused it. */
  appendWritten: (input: RecordInput, time: number, done: Done) => void
  /** Appends in the background; false when the bounded buffer is full (record dropped). */
  appendAsync: (input: RecordInput, time: number) => boolean
  /** Records appended by this process (for records/s). */
  readonly appended: number
  bounds: () => Promise<LogBounds>
  offsetForTime: (ms: number) => Promise<number>
  cursor: (from: number) => StreamCursor
  /** Resolves after the next append is readable, or after `ms`. */
  waitForAppend: (ms: number) => Promise<void>
  readonly groups: GroupStore
  /** Called on a failed write (the bridge forgets its recent packet ids then). */
  onError: ((err: Error) => void) | null
  /** Damaged ranges found in the embedded store's segments (none for Redis). */
  damage: () => DamageSummary
  /** Resolves once every append accepted so far is durable (shutdown, before the clients close). */
  drain: () => Promise<void>
  close: () => Promise<void>
}

export interface DamageSummary {
  /** Records lost in damaged ranges (counted out of the stream's records). */
  records: number
  bytes: number
  ranges: DamageReport[]
  /** Whether every closed segment's CRCs were checked since the broker started. */
  verified: boolean
}

export const NO_DAMAGE: DamageSummary = Object.freeze({ records: 0, bytes: 0, ranges: [], verified: true })

export class EmbeddedStore implements StreamStore {
  readonly kind = 'embedded'
  readonly groups: GroupStore
  appended = 0
  private readonly reader: LogReader
  private waiters: Array<() => void> = []
  /** Called after each batch written to the files (a failed one calls onError instead). */
  onWritten: (() => void) | null = null

  private constructor (readonly name: string, private readonly log: Log, dir: string) {
    this.reader = new LogReader(dir)
    this.groups = new FileGroupStore(dir)
    log.subscribe(() => {
      this.onWritten?.()
      const waiters = this.waiters
      this.waiters = []
      for (const w of waiters) w()
    })
  }

  static async open (dataDir: string, name: string, opts: LogOptions, events: LogEvents): Promise<EmbeddedStore> {
    const dir = streamDir(dataDir, name)
    return new EmbeddedStore(name, await Log.open(dir, name, opts, events), dir)
  }

  get onError (): ((err: Error) => void) | null { return this.log.onError }
  set onError (fn: ((err: Error) => void) | null) { this.log.onError = fn }

  get dropped (): number { return this.log.dropped }

  appendDurable (input: RecordInput, time: number, done: Done): void {
    this.appended++
    this.log.appendDurable(input, time, done)
  }

  appendWritten (input: RecordInput, time: number, done: Done): void {
    this.appended++
    this.log.appendWritten(input, time, done)
  }

  appendAsync (input: RecordInput, time: number): boolean {
    if (!this.log.appendAsync(input, time)) return false
    this.appended++
    return true
  }

  /** `next` is the durable offset: what cursors of this store can read. */
  async bounds (): Promise<LogBounds> {
    return { first: this.log.firstOffset, next: this.log.durableOffset, bytes: this.log.sizeBytes }
  }

  async offsetForTime (ms: number): Promise<number> {
    return Math.min(await this.reader.offsetForTime(ms), this.log.durableOffset)
  }

  /** Hands out fsynced records only (async records become readable at the next fsync, <= 1 s). */
  cursor (from: number): StreamCursor {
    const log = this.log
    const cursor = this.reader.cursor(from, (base, range) => log.damage.report(base, range))
    return {
      get nextOffset () { return cursor.nextOffset },
      read: (max) => cursor.read(max, log.durableOffset),
      close: () => cursor.close()
    }
  }

  waitForAppend (ms: number): Promise<void> {
    return new Promise(resolve => {
      const timer = setTimeout(resolve, ms)
      this.waiters.push(() => { clearTimeout(timer); resolve() })
    })
  }

  damage (): DamageSummary {
    const d = this.log.damage
    return { records: d.records, bytes: d.bytes, ranges: d.list(), verified: d.verified }
  }

  drain (): Promise<void> { return this.log.drain() }
  close (): Promise<void> { return this.log.close() }
}
