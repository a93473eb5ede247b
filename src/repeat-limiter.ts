// Warnings that one misbehaving fleet repeats once per connection (a fuzzer, firmware with a
// bug, a device hammering with a wrong password): at most `limit` lines per message in each
// window, then one summary line when the window ends, so a flood cannot fill the disk or
// bury the other lines. The metrics still count every event.
import type { Logger } from './logger.js'

export interface RepeatLimits { limit: number, windowMs: number }

export class RepeatLimiter {
  private readonly counts = new Map<string, { logged: number, suppressed: number }>()
  private timer: NodeJS.Timeout | null = null

  constructor (private readonly log: Logger, private readonly limits: RepeatLimits) {}

  warn (fields: object, msg: string): void {
    let entry = this.counts.get(msg)
    if (entry === undefined) this.counts.set(msg, entry = { logged: 0, suppressed: 0 })
    if (entry.logged < this.limits.limit) {
      entry.logged++
      this.log.warn(fields, msg)
    } else {
      entry.suppressed++
    }
    if (this.timer === null) {
      this.timer = setTimeout(() => this.endWindow(), this.limits.windowMs)
      this.timer.unref()
    }
  }

  private endWindow (): void {
    this.timer = null
    const seconds = Math.round(this.limits.windowMs / 1000)
    for (const [msg, { suppressed }] of this.counts) {
      if (suppressed > 0) this.log.warn({ suppressed, windowSeconds: seconds }, `… ${suppressed} more "${msg}" lines in the last ${seconds} s (not logged, still counted in /metrics)`)
    }
    this.counts.clear()
  }
}
