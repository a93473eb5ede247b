// After a LevelDB write fails with an I/O error (disk full), no write may reach that log
// again until LevelDB has switched to a new one. The failed write leaves a partial record in
// the log while LevelDB's log writer carries on as if it were whole, so every record written
// after it sits at the wrong place in the log's 32 KiB blocks: LevelDB accepts them, but
// drops them as "checksum mismatch" when it replays the log at the next start. Measured with
// classic-level 3 on a full 2 MiB tmpfs: 119 puts stored, 81 failed, space freed, 200 more
// puts resolved, and after a reopen 119 keys were there. So the gate refuses writes (no
// PUBACK: the devices retry) until compactRange has turned the memtable into a table and
// started a new log (LevelDB then deletes the old one unread), and /healthz says degraded.
import { statfs } from 'node:fs/promises'
import type { ClassicLevel } from 'classic-level'
import type { Implementations } from './storage-operations.js'
import type { WriteHealth } from './write-health.js'

/**
 * Free space wanted before switching logs: writing the memtable (at most classic-level's
 * 4 MiB write buffer) as a table must not fail too, or LevelDB refuses every write until restart.
 */
const ROLL_FREE_BYTES = 8 * 1024 * 1024
const RETRY_MS = 1000
const ROLL_KEY = '~swallow:log-roll'

export function isIoError (err: unknown): boolean {
  const e = err as { code?: string, cause?: { code?: string } } | null
  return e?.code === 'LEVEL_IO_ERROR' || e?.cause?.code === 'LEVEL_IO_ERROR'
}

export class LevelWriteGate {
  private broken: Error | null = null
  private rolling: Promise<void> | null = null
  private timer: NodeJS.Timeout | null = null

  constructor (private readonly db: ClassicLevel<string, Buffer>, private readonly store: string, private readonly location: string, private readonly health: WriteHealth) {}

  /** False while writes are refused (a clean stop then writes nothing more either). */
  get open (): boolean {
    return this.broken === null
  }

  /** Runs one write through the gate: refused while it is shut, shuts it on an I/O error. */
  run<T> (write: () => Promise<T>): Promise<T> {
    return this.broken !== null ? this.refuse() : this.watch(write())
  }

  /** Gates the persistence operations `ops` of `impl` (those that write). */
  wrap (impl: Implementations, ops: readonly string[]): void {
    for (const op of ops) {
      const stored = impl[op]
      if (typeof stored !== 'function') continue
      impl[op] = (...args: unknown[]) => this.broken !== null ? this.refuse() : this.watch(stored(...args) as Promise<unknown>)
    }
  }

  private refuse (): Promise<never> {
    this.roll()
    return Promise.reject(new Error(`${this.store}: writes refused until LevelDB switches to a new log after "${this.broken?.message ?? ''}"`))
  }

  /** Returns the write's own promise; only watches it for an I/O error. */
  private watch<T> (result: Promise<T>): Promise<T> {
    result.then(undefined, this.failed)
    return result
  }

  private readonly failed = (err: unknown): void => {
    if (isIoError(err)) this.shut(err as Error)
  }

  close (): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  private shut (err: Error): void {
    if (this.broken !== null) return
    this.broken = err
    this.health.failed(this.store, err)
    this.timer = setInterval(() => this.roll(), RETRY_MS)
    this.timer.unref()
  }

  private roll (): void {
    this.rolling ??= this.tryRoll().catch(() => {}).finally(() => { this.rolling = null })
  }

  private async tryRoll (): Promise<void> {
    const fs = await statfs(this.location)
    if (fs.bavail * fs.bsize < ROLL_FREE_BYTES) return
    // compactRange first writes the memtable out and switches to a new log file, whatever the range.
    await this.db.compactRange(ROLL_KEY, ROLL_KEY + '~')
    this.broken = null
    this.close()
    this.health.succeeded(this.store)
  }
}
