// When to publish: one timer, armed at the earliest due time this node knows of (and, with
// Redis, at most `pollMs` ahead, for records other nodes stored). Each wake-up claims due
// records in batches and releases them: records of one topic one after another, in due
// order (so they keep their publish order), different topics in parallel.
import type { DelayedBackend } from './backend.js'
import type { DelayedRecord } from './record.js'

const BATCH = 500
const CONCURRENCY = 64
/** After a failed release or storage read: try again this much later. */
const RETRY_MS = 1000
/** setTimeout holds at most 2^31-1 ms; a later due time is looked at again within the hour. */
const MAX_TIMER_MS = 3_600_000

export interface SchedulerOptions {
  /** Look at the backend at least this often (null: only at the due times this node knows). */
  pollMs: number | null
  /** Warnings (rate-limited by the caller: a Redis outage repeats them). */
  warn: (fields: object, msg: string) => void
  /** Publishes one record and removes it; rejects to leave it for a retry. */
  release: (record: DelayedRecord) => Promise<void>
}

export class Scheduler {
  private timer: NodeJS.Timeout | null = null
  private armedFor = Infinity
  private running: Promise<void> | null = null
  private again = false
  private stopped = false

  constructor (private readonly backend: DelayedBackend, private readonly opts: SchedulerOptions) {}

  start (): void {
    this.wake()
  }

  /** A record due at `dueAt` was stored. */
  added (dueAt: number): void {
    this.arm(dueAt)
  }

  /** No wake-up after this; resolves when the releases in progress finished. */
  async stop (): Promise<void> {
    this.stopped = true
    if (this.timer !== null) clearTimeout(this.timer)
    await this.running
  }

  /** Arms the timer for `at` unless it is armed earlier already. */
  private arm (at: number): void {
    if (this.stopped || at >= this.armedFor) return
    if (this.timer !== null) clearTimeout(this.timer)
    this.armedFor = at
    this.timer = setTimeout(() => this.wake(), Math.min(Math.max(0, at - Date.now()), MAX_TIMER_MS))
    this.timer.unref()
  }

  private wake (): void {
    if (this.stopped) return
    this.timer = null
    this.armedFor = Infinity
    if (this.running !== null) {
      this.again = true
      return
    }
    this.running = this.releaseDue().finally(() => {
      this.running = null
      if (this.again) {
        this.again = false
        this.wake()
      }
    })
  }

  private async releaseDue (): Promise<void> {
    try {
      // What is claimed is released, also when stop() came meanwhile (Redis would hold it for a lease).
      while (!this.stopped) {
        const due = await this.backend.claimDue(Date.now(), BATCH)
        if (due.length === 0) break
        if (!await this.releaseAll(due)) return this.arm(Date.now() + RETRY_MS)
      }
      const next = await this.backend.nextDue()
      const poll = this.opts.pollMs === null ? Infinity : Date.now() + this.opts.pollMs
      this.arm(Math.min(next ?? Infinity, poll))
    } catch (err) {
      this.opts.warn({ err: (err as Error).message }, `delayed publish: reading the due messages failed; trying again in ${RETRY_MS / 1000} s`)
      this.arm(Date.now() + RETRY_MS)
    }
  }

  /** False if a release failed (its record stays for the retry; that topic's later ones wait too). */
  private async releaseAll (records: DelayedRecord[]): Promise<boolean> {
    const byTopic = new Map<string, DelayedRecord[]>()
    for (const r of records) {
      const list = byTopic.get(r.topic)
      if (list === undefined) byTopic.set(r.topic, [r])
      else list.push(r)
    }
    const queues = [...byTopic.values()]
    let next = 0
    let failed = false
    const worker = async (): Promise<void> => {
      while (next < queues.length) {
        for (const record of queues[next++]) {
          try {
            await this.opts.release(record)
          } catch (err) {
            if (!failed) this.opts.warn({ err: (err as Error).message, id: record.id, topic: record.topic }, `delayed publish: a release failed; it is tried again in ${RETRY_MS / 1000} s`)
            failed = true
            break
          }
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, queues.length) }, worker))
    return !failed
  }
}
