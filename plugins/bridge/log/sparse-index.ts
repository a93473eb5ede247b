// The sparse index of one segment: an entry every INDEX_INTERVAL bytes of records maps
// (offset, file position, largest record time so far). A read at an offset or a time is a
// binary search here plus a short forward scan in the segment. On disk (<base>.idx) it is
// the same entries, 16 bytes each; it is written without fsync and rebuilt from the data
// when missing or stale (see log.ts).
export const INDEX_ENTRY = 16
export const INDEX_INTERVAL = 4096

export interface IndexEntry { offset: number, position: number }

export class SparseIndex {
  private readonly rel: number[] = []
  private readonly pos: number[] = []
  private readonly maxTime: number[] = []
  /** Entries already in the .idx file. */
  persisted = 0

  constructor (readonly base: number) {}

  get length (): number { return this.rel.length }

  add (offset: number, position: number, maxTime: number): void {
    this.rel.push(offset - this.base)
    this.pos.push(position)
    this.maxTime.push(maxTime)
  }

  /** Drops entries from `length` on (a write that failed). */
  truncate (length: number): void {
    this.rel.length = length
    this.pos.length = length
    this.maxTime.length = length
    if (this.persisted > length) this.persisted = length
  }

  last (): IndexEntry | null {
    const n = this.rel.length
    return n === 0 ? null : { offset: this.base + this.rel[n - 1], position: this.pos[n - 1] }
  }

  lastPosition (): number {
    return this.pos.length === 0 ? -1 : this.pos[this.pos.length - 1]
  }

  /** Entries not yet written to the .idx file, encoded. */
  takeUnpersisted (): Buffer | null {
    const n = this.rel.length - this.persisted
    if (n === 0) return null
    const buf = Buffer.allocUnsafe(n * INDEX_ENTRY)
    for (let i = 0; i < n; i++) {
      const j = this.persisted + i
      buf.writeUInt32BE(this.rel[j], i * INDEX_ENTRY)
      buf.writeUInt32BE(this.pos[j], i * INDEX_ENTRY + 4)
      buf.writeDoubleBE(this.maxTime[j], i * INDEX_ENTRY + 8)
    }
    this.persisted = this.rel.length
    return buf
  }

  /**
   * Reads an .idx file's bytes. Entries must be increasing and inside the segment's
   * `logSize`; a partial trailing entry (crash mid-write) is ignored, anything else
   * inconsistent makes the whole index stale (null).
   */
  static decode (base: number, buf: Buffer, logSize: number): SparseIndex | null {
    const index = new SparseIndex(base)
    const n = Math.floor(buf.length / INDEX_ENTRY)
    let prevRel = -1
    let prevPos = -1
    for (let i = 0; i < n; i++) {
      const rel = buf.readUInt32BE(i * INDEX_ENTRY)
      const position = buf.readUInt32BE(i * INDEX_ENTRY + 4)
      const time = buf.readDoubleBE(i * INDEX_ENTRY + 8)
      if (rel <= prevRel || position <= prevPos || position >= logSize || !Number.isFinite(time)) return null
      if (i === 0 && (rel !== 0 || position !== 0)) return null
      index.add(base + rel, position, time)
      prevRel = rel
      prevPos = position
    }
    index.persisted = n
    return index
  }

  /** The last entry at or before `offset` (the segment start when none). */
  floorByOffset (offset: number): IndexEntry {
    const target = offset - this.base
    let lo = 0
    let hi = this.rel.length - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (this.rel[mid] <= target) { found = mid; lo = mid + 1 } else hi = mid - 1
    }
    return found === -1 ? { offset: this.base, position: 0 } : { offset: this.base + this.rel[found], position: this.pos[found] }
  }

  /** An entry from which a forward scan finds the first record with time >= `time`. */
  floorByTime (time: number): IndexEntry {
    // maxTime is non-decreasing: find the first entry whose maxTime >= time; records
    // with that time may sit between the previous entry and it.
    let lo = 0
    let hi = this.maxTime.length - 1
    let first = this.maxTime.length
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (this.maxTime[mid] >= time) { first = mid; hi = mid - 1 } else lo = mid + 1
    }
    const i = first - 1
    return i < 0 ? { offset: this.base, position: 0 } : { offset: this.base + this.rel[i], position: this.pos[i] }
  }
}
