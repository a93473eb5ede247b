// Retained-message limits: count and payload size. Over a limit a message is still
// delivered to current subscribers but not retained; never an error for the device.
// One warning per episode (from the first refusal until the condition clears), a counter
// for every refusal.
import type { Counter } from 'prom-client'
import type { Logger } from '../../src/logger.js'

export type RefusalReason = 'max_messages' | 'max_payload'

export interface LimitSettings {
  /** null = unlimited */
  maxMessages: number | null
  maxPayload: number | null
}

export class Limits {
  private readonly refusedCounters: Record<RefusalReason, { inc: () => void }>
  private readonly episode: Record<RefusalReason, boolean> = { max_messages: false, max_payload: false }

  constructor (readonly settings: LimitSettings, refused: Counter<'reason'>, private readonly log: Logger) {
    this.refusedCounters = { max_messages: refused.labels('max_messages'), max_payload: refused.labels('max_payload') }
  }

  /** The limit a message would break, or null. `isNew`: the topic holds no retained message yet. */
  check (size: number, isNew: boolean, count: number): RefusalReason | null {
    const { maxPayload, maxMessages } = this.settings
    if (maxPayload !== null && size > maxPayload) return 'max_payload'
    if (maxPayload !== null && this.episode.max_payload) this.end('max_payload')
    if (maxMessages !== null && isNew) {
      if (count >= maxMessages) return 'max_messages'
      if (this.episode.max_messages) this.end('max_messages')
    }
    return null
  }

  refuse (reason: RefusalReason, topic: string, size: number, count: number): void {
    this.refusedCounters[reason].inc()
    if (this.episode[reason]) return
    this.episode[reason] = true
    if (reason === 'max_payload') {
      this.log.warn({ topic, size, maxPayload: this.settings.maxPayload },
        'retained payload over --retained-max-payload: delivered but not retained (and the topic\'s previous retained message cleared); further ones are only counted (swallow_retained_refused_total) until one fits')
    } else {
      this.log.warn({ topic, count, maxMessages: this.settings.maxMessages },
        'retained store full (--retained-max-messages): new retained topics are delivered but not retained; further ones are only counted (swallow_retained_refused_total) until there is room')
    }
  }

  private end (reason: RefusalReason): void {
    this.episode[reason] = false
    this.log.info({ reason }, 'retained messages fit the limits again')
  }
}
