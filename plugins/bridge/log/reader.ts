// Reading a stream's log from its files alone: in the broker (HTTP API), in another process
// while the broker runs (swallow log tail --data-dir), or after a crash. Takes no lock and
// never waits for the writer: a record still being written looks incomplete and is read on
// the next call.
import { open, readFile, stat, type FileHandle } from 'node:fs/promises'
import { checkFrame, decodeFrame, FRAME_HEADER, MAX_BODY, type LogRecord } from './record.js'
import { findNextFrame } from './resync.js'
import { listSegments, scanSegment, segmentPath, type DamagedRange } from './segment.js'
import { SparseIndex, type IndexEntry } from './sparse-index.js'

const CHUNK = 1024 * 1024

export interface LogBounds {
  /** Offset of the oldest record kept (equal to next when empty). */
  first: number
  /** Offset the next appended record will get. */
  next: number
  bytes: number
}

async function loadIndex (dir: string, base: number): Promise<SparseIndex | null> {
  try {
    const size = (await stat(segmentPath(dir, base, 'log'))).size
    return SparseIndex.decode(base, await readFile(segmentPath(dir, base, 'idx')), size)
  } catch {
    return null
  }
}

async function withSegment<T> (dir: string, base: number, fn: (fh: FileHandle) => Promise<T>): Promise<T | null> {
  let fh: FileHandle
  try {
    fh = await open(segmentPath(dir, base, 'log'), 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null // deleted by retention meanwhile
    throw err
  }
  try { return await fn(fh) } finally { await fh.close() }
}

export class LogReader {
  constructor (readonly dir: string) {}

  async bounds (): Promise<LogBounds> {
    const bases = await listSegments(this.dir)
    if (bases.length === 0) return { first: 0, next: 0, bytes: 0 }
    let bytes = 0
    for (const base of bases) bytes += await stat(segmentPath(this.dir, base, 'log')).then(s => s.size, () => 0)
    const last = bases[bases.length - 1]
    const entry = (await loadIndex(this.dir, last))?.last() ?? { offset: last, position: 0 }
    const next = await withSegment(this.dir, last, async fh => (await scanSegment(fh, entry.position, entry.offset, undefined, Infinity)).next)
    return { first: bases[0], next: next ?? last, bytes }
  }

  /** Offset of the first record with time >= `ms` (the next offset when there is none). */
  async offsetForTime (ms: number): Promise<number> {
    const bases = await listSegments(this.dir)
    for (const base of bases) {
      const entry: IndexEntry = (await loadIndex(this.dir, base))?.floorByTime(ms) ?? { offset: base, position: 0 }
      let found = -1
      await withSegment(this.dir, base, fh => scanSegment(fh, entry.position, entry.offset, (offset, _p, time) => {
        if (time >= ms) { found = offset; return false }
      }, bases.find(b => b > base) ?? Infinity))
      if (found !== -1) return found
    }
    return (await this.bounds()).next
  }

  /** A cursor reading forward from `offset` (clamped to the oldest record kept). */
  cursor (offset: number, onDamage?: OnDamage): LogCursor {
    return new LogCursor(this.dir, offset, onDamage)
  }
}

/** Told once per cursor about each damaged range it skips (segment base, range). */
export type OnDamage = (base: number, range: DamagedRange) => void

/**
 * Reads records in order; remembers its place, so sequential reads never search again.
 * Unreadable bytes inside a segment are skipped to the next good record (the offsets in
 * between are gone) and reported to `onDamage`.
 */
export class LogCursor {
  private fh: FileHandle | null = null
  private base = -1
  private position = 0
  private buf = Buffer.allocUnsafe(CHUNK)
  private retryOffset = -1

  constructor (readonly dir: string, private offset: number, private readonly onDamage?: OnDamage) {}

  /** Offset of the next record this cursor returns. */
  get nextOffset (): number { return this.offset }

  /**
   * Up to `max` records from the cursor on; [] when it has caught up with the writer.
   * `until`: read no record at or past this offset (the broker's durable offset).
   */
  async read (max: number, until = Infinity): Promise<LogRecord[]> {
    const out: LogRecord[] = []
    max = Math.min(max, until - this.offset)
    while (out.length < max) {
      if (!this.fh && !await this.seek()) break
      const fh = this.fh as FileHandle
      const { bytesRead } = await fh.read(this.buf, 0, this.buf.length, this.position)
      let at = 0
      let stuck = false
      let corrupt = false
      while (at < bytesRead && out.length < max) {
        const check = checkFrame(this.buf, at, bytesRead)
        if (!check.ok) {
          const needed = bytesRead - at >= FRAME_HEADER ? FRAME_HEADER + this.buf.readUInt32BE(at) : 0
          if (check.reason === 'incomplete' && at === 0 && bytesRead === this.buf.length && needed <= MAX_BODY + FRAME_HEADER) {
            this.buf = Buffer.allocUnsafe(Math.max(needed, this.buf.length * 2))
          } else if (at === 0) {
            stuck = true
            corrupt = check.reason === 'corrupt'
          }
          break
        }
        if (check.offset >= this.offset) {
          if (check.offset > this.offset) { stuck = true; break } // a gap: the segment changed under us
          out.push(decodeFrame(this.buf, at))
          this.offset++
        }
        at += check.size
      }
      this.position += at
      if (corrupt && await this.skipDamage(fh)) continue
      if (stuck || (at === 0 && bytesRead < this.buf.length)) {
        // End of what is written in this segment: move on if a later segment starts here.
        if (!await this.nextSegment()) break
      }
    }
    return out
  }

  /** Moves past unreadable bytes at the cursor's position to the next good record of this segment. */
  private async skipDamage (fh: FileHandle): Promise<boolean> {
    const later = (await listSegments(this.dir)).find(b => b > this.base) ?? Infinity
    const found = await findNextFrame(fh, this.position + 1, (await fh.stat()).size, this.offset - 1, later)
    if (found === null) return false
    this.onDamage?.(this.base, { from: this.position, to: found.position, firstOffset: this.offset, endOffset: found.offset })
    this.position = found.position
    this.offset = found.offset
    return true
  }

  async close (): Promise<void> {
    await this.fh?.close()
    this.fh = null
  }

  private async seek (): Promise<boolean> {
    const bases = await listSegments(this.dir)
    if (bases.length === 0) return false
    if (this.offset < bases[0]) this.offset = bases[0]
    let base = bases[0]
    for (const b of bases) if (b <= this.offset) base = b
    const entry = (await loadIndex(this.dir, base))?.floorByOffset(this.offset) ?? { offset: base, position: 0 }
    return await this.openSegment(base, entry.position)
  }

  private async openSegment (base: number, position: number): Promise<boolean> {
    await this.close()
    try {
      this.fh = await open(segmentPath(this.dir, base, 'log'), 'r')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
      throw err
    }
    this.base = base
    this.position = position
    return true
  }

  private async nextSegment (): Promise<boolean> {
    const bases = await listSegments(this.dir)
    const later = bases.filter(b => b > this.base)
    if (later.length === 0) return false
    // The writer creates the next segment only after its last write to this one: read this
    // one once more before moving on, then skip an end it cannot read (damaged).
    if (this.offset < later[0] && this.retryOffset !== this.offset) {
      this.retryOffset = this.offset
      return true
    }
    if (this.offset < later[0]) {
      const size = (await this.fh?.stat())?.size ?? this.position
      this.onDamage?.(this.base, { from: this.position, to: size, firstOffset: this.offset, endOffset: later[0] })
      this.offset = later[0]
    }
    if (bases[0] > this.offset) this.offset = bases[0]
    await this.close()
    return await this.seek()
  }
}
