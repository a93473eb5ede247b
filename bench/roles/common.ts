// Small helpers shared by the generator roles.
import { writeAck } from '../wire.js'
import type { BenchConn } from '../conn.js'
import type { CpuReport } from '../jobs.js'

// performance.now() is cheap; anchoring it to hrtime (CLOCK_MONOTONIC, shared by all processes)
// gives a clock comparable across processes. The first calls are slow (lazy initialisation),
// and reading hrtime before performance.now() underestimates the anchor by the gap between the
// two reads, so take the largest of many warm samples (error well under a microsecond).
const anchor = ((): number => {
  let best = -Infinity
  for (let i = 0; i < 200; i++) best = Math.max(best, Number(process.hrtime.bigint()) - performance.now() * 1e6)
  return best
})()
export function fastNowNs (): number {
  return anchor + performance.now() * 1e6
}

/** Collects acks produced while parsing one read and writes them with a single write. */
export class AckBatcher {
  private buf = Buffer.allocUnsafe(4096)
  private used = 0
  private scheduled = false

  constructor (private readonly conn: BenchConn) {}

  add (type: number, id: number): void {
    if (this.used + 4 > this.buf.length) {
      const bigger = Buffer.allocUnsafe(this.buf.length * 2)
      this.buf.copy(bigger, 0, 0, this.used)
      this.buf = bigger
    }
    writeAck(this.buf, this.used, type, id)
    this.used += 4
    if (!this.scheduled) { this.scheduled = true; process.nextTick(this.flush) }
  }

  private readonly flush = (): void => {
    this.scheduled = false
    if (this.used === 0 || this.conn.closed) { this.used = 0; return }
    this.conn.write(Buffer.from(this.buf.subarray(0, this.used)))
    this.used = 0
  }
}

export function packBits (flags: Uint8Array): string {
  const out = Buffer.alloc(Math.ceil(flags.length / 8))
  for (let i = 0; i < flags.length; i++) if (flags[i] !== 0) out[i >> 3] |= 1 << (i & 7)
  return out.toString('base64')
}

export function unpackBits (b64: string, length: number): Uint8Array {
  const packed = Buffer.from(b64, 'base64')
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = (packed[i >> 3] >> (i & 7)) & 1
  return out
}

/** CPU used by this process between start() and report(), so readers can see a saturated generator. */
export class CpuMeter {
  private cpu = process.cpuUsage()
  private wall = performance.now()
  start (): void { this.cpu = process.cpuUsage(); this.wall = performance.now() }
  report (): CpuReport {
    const d = process.cpuUsage(this.cpu)
    return { cpuMs: (d.user + d.system) / 1000, wallMs: performance.now() - this.wall }
  }
}

export function sleep (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}
