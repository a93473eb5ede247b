// Group commit: appends that arrive while a write is in progress (or in the same event-loop
// turn) are written together with one writev and share one fdatasync. A durable append's
// callback runs only after the batch holding it is on disk; a written one's after the batch
// is written (fsynced only if a durable append shares it); an async one never waits.
export type Done = (err?: Error | null) => void

export interface CommitSink {
  /** Writes the frames in order; fsyncs when `sync`. Throws when nothing of the batch may count as written. */
  write: (frames: Buffer[], sync: boolean) => Promise<void>
  /** Called when a batch failed: `lost` async records were dropped with it. */
  failed: (err: Error, lost: number) => void
}

export class GroupCommit {
  private frames: Buffer[] = []
  private waiters: Done[] = []
  private sync = false
  private bytes = 0
  private running: Promise<void> | null = null
  private scheduled = false

  constructor (private readonly sink: CommitSink) {}

  /** Bytes appended and not yet written. */
  get pendingBytes (): number { return this.bytes }

  /** `done` (null: nobody waits) runs once the batch holding the frame is written, and
   *  fsynced when `sync`. */
  add (frame: Buffer, done: Done | null, sync: boolean): void {
    this.frames.push(frame)
    this.bytes += frame.length
    if (done !== null) this.waiters.push(done)
    if (sync) this.sync = true
    this.schedule()
  }

  /** Asks for an fsync of what was written without one (async appends). */
  requestSync (): void {
    this.sync = true
    this.schedule()
  }

  /** Resolves once everything added so far is written. */
  async drain (): Promise<void> {
    while (this.running || this.scheduled) await (this.running ?? new Promise(resolve => setImmediate(resolve)))
  }

  private schedule (): void {
    if (this.running || this.scheduled) return
    this.scheduled = true
    // setImmediate: appends made in the same I/O turn (one socket read) join the batch.
    setImmediate(this.start)
  }

  private readonly start = (): void => {
    this.scheduled = false
    this.running = this.loop().finally(() => { this.running = null })
  }

  private async loop (): Promise<void> {
    while (this.frames.length > 0 || this.sync) {
      const frames = this.frames
      const waiters = this.waiters
      const sync = this.sync
      this.frames = []
      this.waiters = []
      this.sync = false
      this.bytes = 0
      let error: Error | null = null
      try {
        await this.sink.write(frames, sync)
      } catch (err) {
        error = err as Error
        this.sink.failed(error, frames.length - waiters.length)
      }
      for (let i = 0; i < waiters.length; i++) waiters[i](error)
    }
  }
}
