// The writer side of one stream's log: a directory of segments. Opens with recovery (a torn
// tail of the last segment is truncated and logged, stale indexes are rebuilt), appends
// through the group commit, rolls segments at a size, and deletes whole old segments for
// retention. Readers (reader.ts) work on the files alone and never take a lock.
import { constants } from 'node:fs'
import { mkdir, open, readFile, rm, type FileHandle } from 'node:fs/promises'
import { encodeFrame, sealFrame, frameTime, type RecordInput } from './record.js'
import { listSegments, scanSegment, segmentPath } from './segment.js'
import { SparseIndex, INDEX_INTERVAL, INDEX_ENTRY } from './sparse-index.js'
import { DamageLog } from './damage.js'
import { GroupCommit, type Done } from './group-commit.js'

export interface LogOptions {
  /** Roll to a new segment when the active one would exceed this. */
  segmentBytes: number
  /** Delete old segments while the log is larger than this (0: no size limit). */
  retentionBytes: number
  /** Delete segments whose newest record is older than this (null: keep). */
  retentionMs: number | null
  /** Async appends beyond this many unwritten bytes are refused (counted by the caller). */
  maxPendingBytes: number
  /** fsync interval for async-only writes. */
  syncIntervalMs?: number
}

/** The subset of a pino logger the log uses. */
export interface LogEvents {
  warn: (obj: object, msg: string) => void
  info: (obj: object, msg: string) => void
  error: (obj: object, msg: string) => void
}

interface ClosedSegment { base: number, size: number, maxTime: number }

interface ActiveSegment {
  base: number
  fh: FileHandle
  idx: FileHandle
  size: number
  index: SparseIndex
  maxTime: number
  bytesSinceIndex: number
  /** The index writes in flight (awaited at roll and close, not by appends). */
  indexWrites: Promise<void>
}

const WRITEV_MAX = 1024
// Not O_APPEND: writes are positional (writev at the segment's size).
const RW_CREATE = constants.O_RDWR | constants.O_CREAT

export class Log {
  private readonly closed: ClosedSegment[] = []
  private active!: ActiveSegment
  private next = 0
  /** Records below this offset are fsynced (what the broker's own readers hand out). */
  private synced = 0
  private readonly commit: GroupCommit
  private readonly listeners = new Set<() => void>()
  private dirty = false
  private syncTimer: NodeJS.Timeout | null = null
  private retentionTimer: NodeJS.Timeout | null = null
  private retention: Promise<void> = Promise.resolve()
  /** Records dropped because the async buffer was full or a write failed. */
  dropped = 0
  /** Damaged ranges in the segments (found at open, by verification or by readers). */
  readonly damage: DamageLog
  private verification: Promise<void> = Promise.resolve()
  onError: ((err: Error) => void) | null = null

  private constructor (readonly dir: string, readonly name: string, private readonly opts: LogOptions, private readonly events: LogEvents) {
    this.damage = new DamageLog(dir, name, events)
    this.commit = new GroupCommit({
      write: (frames, sync) => this.write(frames, sync),
      failed: (err, lost) => {
        this.dropped += lost
        this.events.error({ err, stream: this.name, lostAsync: lost }, 'log write failed; the waiting (durable, written) appends in the batch were refused')
        this.onError?.(err)
      }
    })
  }

  static async open (dir: string, name: string, opts: LogOptions, events: LogEvents): Promise<Log> {
    const log = new Log(dir, name, opts, events)
    await log.recover()
    const syncMs = opts.syncIntervalMs ?? 1000
    log.syncTimer = setInterval(() => { if (log.dirty) log.commit.requestSync() }, syncMs)
    log.syncTimer.unref()
    log.retentionTimer = setInterval(() => {
      log.enforceRetention().catch(err => events.error({ err, stream: name }, 'log retention failed'))
    }, 30_000)
    log.retentionTimer.unref()
    await log.enforceRetention()
    // Closed segments are immutable: their CRCs are checked once per start, in the background.
    log.verification = log.damage.verify(log.closed.map(c => c.base), base => log.baseAfter(base))
      .catch(err => events.error({ err, stream: name }, 'log verification failed'))
    return log
  }

  /** The base of the segment after the closed segment `base`; undefined once it is deleted. */
  private baseAfter (base: number): number | undefined {
    const i = this.closed.findIndex(c => c.base === base)
    return i === -1 ? undefined : (this.closed[i + 1] ?? this.active).base
  }

  /** Offset of the oldest record kept. */
  get firstOffset (): number { return this.closed.length > 0 ? this.closed[0].base : this.active.base }
  /** Offset the next record will get (records appended but not yet written included once written). */
  get nextOffset (): number { return this.next }
  /** Offset after the last fsynced record: consumers in the broker read up to here only, so
   *  a record handed out can never vanish in a power loss and have its offset reused. */
  get durableOffset (): number { return this.synced }
  get sizeBytes (): number { return this.closed.reduce((n, s) => n + s.size, 0) + this.active.size }
  get pendingBytes (): number { return this.commit.pendingBytes }

  /** Appends; `done` runs once the record is fsynced (or with the error that refused it). */
  appendDurable (input: RecordInput, time: number, done: Done): void {
    this.commit.add(encodeFrame(input, time), done, true)
  }

  /** Appends; `done` runs once the record is written to the file (the OS has it: a crash of
   *  the process cannot lose it, a power loss can until the next fsync, within syncIntervalMs). */
  appendWritten (input: RecordInput, time: number, done: Done): void {
    this.commit.add(encodeFrame(input, time), done, false)
  }

  /** Appends without waiting; false when the bounded buffer is full (the record is dropped). */
  appendAsync (input: RecordInput, time: number): boolean {
    if (this.commit.pendingBytes > this.opts.maxPendingBytes) {
      this.dropped++
      return false
    }
    this.commit.add(encodeFrame(input, time), null, false)
    return true
  }

  /** Calls `listener` after each written batch (followers wake up on it). */
  subscribe (listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Writes and fsyncs everything appended so far. */
  async drain (): Promise<void> {
    this.commit.requestSync()
    await this.commit.drain()
  }

  async close (): Promise<void> {
    if (this.syncTimer) clearInterval(this.syncTimer)
    if (this.retentionTimer) clearInterval(this.retentionTimer)
    this.damage.stop()
    await this.verification
    this.commit.requestSync()
    await this.commit.drain()
    await this.persistIndex(this.active)
    await this.active.idx.sync()
    await this.active.fh.close()
    await this.active.idx.close()
  }

  // --- recovery -------------------------------------------------------------

  private async recover (): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    const bases = await listSegments(this.dir)
    if (bases.length === 0) bases.push(0)
    for (let i = 0; i < bases.length - 1; i++) this.closed.push(await this.checkClosed(bases[i], bases[i + 1]))
    const base = bases[bases.length - 1]
    const fh = await open(segmentPath(this.dir, base, 'log'), RW_CREATE)
    const index = new SparseIndex(base)
    let sinceIndex = 0
    // Damage followed by good records is kept and skipped (readers do the same); only a bad
    // tail, which no good record follows, is cut.
    const scan = await scanSegment(fh, 0, base, (offset, position, time, size) => {
      if (position === 0 || sinceIndex >= INDEX_INTERVAL) {
        index.add(offset, position, time)
        sinceIndex = 0
      }
      sinceIndex += size
    }, Infinity)
    for (const range of scan.damage) this.damage.report(base, range)
    if (scan.badBytes > 0) {
      await fh.truncate(scan.end)
      await fh.sync()
      this.events.warn({ stream: this.name, segment: segmentPath(this.dir, base, 'log'), bytes: scan.badBytes, validBytes: scan.end, nextOffset: scan.next },
        `log ${this.name}: truncated ${scan.badBytes} bytes of torn or corrupt tail at start`)
    }
    // The active segment's index is always rebuilt from the data: it is cheap and never stale.
    const idx = await open(segmentPath(this.dir, base, 'idx'), 'w+')
    this.active = { base, fh, idx, size: scan.end, index, maxTime: scan.maxTime, bytesSinceIndex: sinceIndex, indexWrites: Promise.resolve() }
    await this.persistIndex(this.active)
    this.next = scan.next
    this.synced = scan.next
  }

  /** A closed segment: its size and newest time; its index is rebuilt when missing or stale. */
  private async checkClosed (base: number, nextBase: number): Promise<ClosedSegment> {
    const fh = await open(segmentPath(this.dir, base, 'log'), 'r')
    try {
      const size = (await fh.stat()).size
      let index: SparseIndex | null = null
      try {
        index = SparseIndex.decode(base, await readFile(segmentPath(this.dir, base, 'idx')), size)
      } catch {}
      if (index && index.length > 0) {
        const last = index.last() as { offset: number, position: number }
        const tail = await scanSegment(fh, last.position, last.offset)
        if (tail.next > last.offset && tail.badBytes === 0) return { base, size, maxTime: tail.maxTime }
      }
      const rebuilt = new SparseIndex(base)
      let sinceIndex = 0
      const scan = await scanSegment(fh, 0, base, (offset, position, time, recordSize) => {
        if (position === 0 || sinceIndex >= INDEX_INTERVAL) { rebuilt.add(offset, position, time); sinceIndex = 0 }
        sinceIndex += recordSize
      }, nextBase)
      const idx = await open(segmentPath(this.dir, base, 'idx'), 'w')
      const buf = rebuilt.takeUnpersisted()
      if (buf) await idx.write(buf, 0, buf.length, 0)
      await idx.sync()
      await idx.close()
      // Damage in it is reported by the verification that follows the open.
      this.events.info({ stream: this.name, base, entries: rebuilt.length }, `log ${this.name}: rebuilt the index of segment ${base}`)
      return { base, size, maxTime: scan.maxTime }
    } finally {
      await fh.close()
    }
  }

  // --- writing (called by the group commit, one batch at a time) ---------------

  private async write (frames: Buffer[], sync: boolean): Promise<void> {
    let i = 0
    while (i < frames.length) {
      const seg = this.active
      const start = seg.size
      const firstOffset = this.next
      let size = start
      let sinceIndex = seg.bytesSinceIndex
      let maxTime = seg.maxTime
      const indexMark = seg.index.length
      const run: Buffer[] = []
      while (i < frames.length) {
        const frame = frames[i]
        if (size > 0 && size + frame.length > this.opts.segmentBytes) break
        const offset = firstOffset + run.length
        sealFrame(frame, offset)
        const time = frameTime(frame)
        if (time > maxTime) maxTime = time
        if (size === 0 || sinceIndex >= INDEX_INTERVAL) {
          seg.index.add(offset, size, maxTime)
          sinceIndex = 0
        }
        sinceIndex += frame.length
        size += frame.length
        run.push(frame)
        i++
      }
      const syncRun = sync || i < frames.length
      try {
        await writeAll(seg.fh, run, start)
        if (syncRun) await seg.fh.datasync()
      } catch (err) {
        seg.index.truncate(indexMark)
        await seg.fh.truncate(start).catch(() => {})
        throw err
      }
      seg.size = size
      seg.bytesSinceIndex = sinceIndex
      seg.maxTime = maxTime
      this.next = firstOffset + run.length
      if (syncRun) this.synced = this.next
      this.dirty = !syncRun
      // The index is a hint (a stale one is read on from its last entry, a missing one rebuilt
      // from the data at the next start): written with the fsyncs only (each durable batch,
      // the periodic sync, roll and close), and no append waits for it. A write system call
      // per written or async batch was ~5% of the broker's busy time at 1->1 QoS 1.
      if (syncRun) void this.persistIndex(seg)
      // A failed roll fails the rest of the batch (its first part is already in the log: those
      // publishers get an error too and retry, so they may land twice, never zero times).
      if (i < frames.length) await this.roll()
    }
    if (frames.length === 0 && sync) {
      await this.active.fh.datasync()
      this.synced = this.next
      this.dirty = false
      void this.persistIndex(this.active)
    }
    for (const listener of this.listeners) listener()
  }

  /** Writes the index entries added since the last call; resolves once every index write of
   *  the segment so far is done. A failed one is left to the rebuild at the next start. */
  private persistIndex (seg: ActiveSegment): Promise<void> {
    const buf = seg.index.takeUnpersisted()
    if (buf) {
      const at = (seg.index.persisted * INDEX_ENTRY) - buf.length
      const write = seg.idx.write(buf, 0, buf.length, at).then(() => {}, () => {})
      seg.indexWrites = Promise.all([seg.indexWrites, write]).then(() => {})
    }
    return seg.indexWrites
  }

  private async roll (): Promise<void> {
    const old = this.active
    const base = this.next
    // Open the new segment first: if that fails, the old one stays active and usable.
    const fh = await open(segmentPath(this.dir, base, 'log'), RW_CREATE)
    let idx: FileHandle
    try {
      idx = await open(segmentPath(this.dir, base, 'idx'), 'w+')
    } catch (err) {
      await fh.close()
      await rm(segmentPath(this.dir, base, 'log'), { force: true })
      throw err
    }
    this.active = { base, fh, idx, size: 0, index: new SparseIndex(base), maxTime: 0, bytesSinceIndex: 0, indexWrites: Promise.resolve() }
    this.closed.push({ base: old.base, size: old.size, maxTime: old.maxTime })
    await this.persistIndex(old)
    await old.idx.sync().catch(() => {})
    await old.fh.close()
    await old.idx.close()
    await syncDir(this.dir)
    await this.enforceRetention()
  }

  // --- retention -------------------------------------------------------------

  /** Deletes whole closed segments, oldest first, beyond the size or age limit (serialized). */
  enforceRetention (): Promise<void> {
    this.retention = this.retention.catch(() => {}).then(() => this.deleteOldSegments())
    return this.retention
  }

  private async deleteOldSegments (): Promise<void> {
    const { retentionBytes, retentionMs } = this.opts
    let total = this.sizeBytes
    const cutoff = retentionMs === null ? -Infinity : Date.now() - retentionMs
    while (this.closed.length > 0) {
      const oldest = this.closed[0]
      const tooBig = retentionBytes > 0 && total > retentionBytes
      const tooOld = oldest.maxTime < cutoff
      if (!tooBig && !tooOld) break
      this.closed.shift()
      this.damage.forget(oldest.base)
      total -= oldest.size
      await rm(segmentPath(this.dir, oldest.base, 'log'), { force: true })
      await rm(segmentPath(this.dir, oldest.base, 'idx'), { force: true })
    }
  }
}

async function writeAll (fh: FileHandle, frames: Buffer[], position: number): Promise<void> {
  let pos = position
  for (let i = 0; i < frames.length; i += WRITEV_MAX) {
    const chunk = i === 0 && frames.length <= WRITEV_MAX ? frames : frames.slice(i, i + WRITEV_MAX)
    let expected = 0
    for (const f of chunk) expected += f.length
    const { bytesWritten } = await fh.writev(chunk, pos)
    if (bytesWritten !== expected) throw new Error(`short write: ${bytesWritten} of ${expected} bytes`)
    pos += expected
  }
}

async function syncDir (dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try { await fh.sync() } finally { await fh.close() }
}
