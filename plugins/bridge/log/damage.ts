// What one stream knows about damage in its segments: found when the log opens (the active
// segment is scanned, the closed ones are verified in the background) or by a reader that
// skipped it. Each range is logged once (one warn line naming the segment file and the byte
// range), counted for /metrics, and listed by the stream API.
import { open } from 'node:fs/promises'
import type { LogEvents } from './log.js'
import { scanSegment, segmentPath, type DamagedRange } from './segment.js'

export interface DamageReport extends DamagedRange {
  /** The segment file. */
  segment: string
  base: number
  /** Records lost with the range (endOffset - firstOffset). */
  records: number
}

export class DamageLog {
  private readonly ranges = new Map<string, DamageReport>()
  /** Closed segments verified since the log opened; false while verification runs. */
  verified = false
  private stopping = false

  constructor (private readonly dir: string, private readonly name: string, private readonly events: Pick<LogEvents, 'warn'>) {}

  report (base: number, range: DamagedRange): void {
    const key = `${base}:${range.firstOffset}`
    if (this.ranges.has(key) || range.endOffset <= range.firstOffset) return
    const segment = segmentPath(this.dir, base, 'log')
    const records = range.endOffset - range.firstOffset
    this.ranges.set(key, { ...range, segment, base, records })
    const lost = `records ${range.firstOffset}-${range.endOffset - 1} (${records})`
    // No bytes: the records are simply not there (the segment was truncated, or the one after it deleted).
    const what = range.to > range.from
      ? `${segment} bytes ${range.from}-${range.to} are damaged (CRC): ${lost} are unreadable`
      : `${lost} are missing after byte ${range.from} of ${segment} (a segment truncated or deleted)`
    this.events.warn({ stream: this.name, segment, fromByte: range.from, toByte: range.to, firstOffset: range.firstOffset, endOffset: range.endOffset, records },
      `log ${this.name}: ${what}; readers skip to offset ${range.endOffset}`)
  }

  /** Retention deleted the segment. */
  forget (base: number): void {
    for (const [key, r] of this.ranges) if (r.base === base) this.ranges.delete(key)
  }

  /** Ends a verification in progress after its current segment (the log is closing). */
  stop (): void {
    this.stopping = true
  }

  list (): DamageReport[] {
    return [...this.ranges.values()].sort((a, b) => a.firstOffset - b.firstOffset)
  }

  get records (): number {
    let n = 0
    for (const r of this.ranges.values()) n += r.records
    return n
  }

  get bytes (): number {
    let n = 0
    for (const r of this.ranges.values()) n += r.to - r.from
    return n
  }

  /**
   * Reads every record of the closed segments `bases` (each followed by `nextBase(base)`),
   * checking each CRC, and reports what is damaged. One segment at a time, in the background.
   */
  async verify (bases: number[], nextBase: (base: number) => number | undefined): Promise<void> {
    for (const base of bases) {
      if (this.stopping) return
      const limit = nextBase(base)
      if (limit === undefined) continue // deleted by retention meanwhile
      let fh
      try {
        fh = await open(segmentPath(this.dir, base, 'log'), 'r')
      } catch {
        continue
      }
      try {
        const scan = await scanSegment(fh, 0, base, undefined, limit)
        for (const range of scan.damage) this.report(base, range)
        // Records missing at the end (unreadable tail, or a truncated file).
        if (scan.next < limit) this.report(base, { from: scan.end, to: scan.end + scan.badBytes, firstOffset: scan.next, endOffset: limit })
      } finally {
        await fh.close()
      }
    }
    this.verified = true
  }
}
