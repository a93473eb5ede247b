// What a connection says about its client in the log, without repeating itself: a warning
// once per client (warnOnce), a storage failure once per operation, a full queue once a
// minute with the all-clear when it has room again. Made with the first warning: a
// connection that never needs one holds none of this.
import type { Logger } from '../logger.js'
import type { CoreMetrics } from '../metrics.js'
import type { Overflow } from './outbound.js'

const QUEUE_FULL_LINES: Record<Overflow, string> = {
  wait: 'client queue full (--max-queued): publishers to its topics wait until it catches up',
  spill: 'client queue full (--max-queued): its further messages stay in its stored queue and are sent from there as it catches up',
  drop: 'client queue full (--max-queued): its further QoS 1/2 messages are dropped (clean session) until it catches up'
}

export class ClientWarnings {
  private readonly warned = new Set<string>()
  /** Date.now() of the last "queue full" warning, and whether it belongs to the current episode. */
  private queueFullWarnedAt = 0
  private queueFullWarned = false

  constructor (private readonly log: Logger, private readonly metrics: CoreMetrics, private readonly clientId: string) {}

  /** Logs a warning about this client the first time only. */
  warnOnce (message: string, fields: object): void {
    if (this.warned.has(message)) return
    this.warned.add(message)
    this.log.warn({ clientId: this.clientId, ...fields }, message)
  }

  /** A storage operation for this client failed where the protocol goes on without it; `consequence` says what it costs. */
  storageFailed (operation: string, err: unknown, consequence: string): void {
    this.warnOnce(`storage error in ${operation}: ${consequence}`, { operation, error: err instanceof Error ? err.message : String(err) })
  }

  queueFull (firstOfEpisode: boolean, inflight: number, queued: number, overflow: Overflow): void {
    if (overflow === 'wait') this.metrics.queueFull.inc()
    else if (overflow === 'spill') this.metrics.queueSpilled.inc()
    else this.metrics.dropped.inc({ reason: 'queue_full' })
    // A big backlog (a # subscription to many retained messages) fills and drains the queue
    // thousands of times: the metric counts every time, the log says it once a minute.
    const now = Date.now()
    if (!firstOfEpisode || now - this.queueFullWarnedAt < 60_000) return
    this.queueFullWarnedAt = now
    this.queueFullWarned = true
    this.log.warn({ clientId: this.clientId, inflight, queued }, QUEUE_FULL_LINES[overflow])
  }

  caughtUp (): void {
    if (!this.queueFullWarned) return
    this.queueFullWarned = false
    this.log.info({ clientId: this.clientId }, 'client caught up: its queue has room again')
  }
}
