// --max-subscriptions-per-client: how many topic filters one session may hold. Beyond it a
// filter is refused in its SUBACK (0x80), counted in
// swallow_subscriptions_refused_total{reason="max_subscriptions"} and logged once per
// connection; filters the session already holds (a re-subscribe, a restored persistent
// session) are always granted again. One SUBSCRIBE packet's filters count one by one, so the
// limit also bounds what a single packet can add.
//
// It runs as the last authorizeSubscribe step: a filter refused by the ACL never counts.
import type { Client, Subscription } from 'aedes'
import type { Counter } from 'prom-client'
import type { Logger } from './logger.js'

export class SubscriptionLimit {
  /** The filters each connected client was granted (what Aedes holds for it). */
  private readonly granted = new WeakMap<Client, Set<string>>()
  private readonly warned = new WeakSet<Client>()
  /** Filters refused by this limit (the protocol core answers them with MQTT 5's 0x97). */
  private readonly refusedHere = new WeakSet<Subscription>()

  constructor (private readonly max: number, private readonly refused: Counter<'reason'>, private readonly log: Logger) {}

  readonly authorizeSubscribe = (client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void): void => {
    let filters = this.granted.get(client)
    if (filters === undefined) this.granted.set(client, filters = new Set())
    if (filters.has(sub.topic) || filters.size < this.max) {
      filters.add(sub.topic)
      return done(null, sub)
    }
    this.refused.inc({ reason: 'max_subscriptions' })
    this.refusedHere.add(sub)
    if (!this.warned.has(client)) {
      this.warned.add(client)
      this.log.warn({ clientId: client.id, max: this.max, topic: sub.topic },
        'subscription refused: the client holds --max-subscriptions-per-client filters (further refusals on this connection are counted, not logged)')
    }
    done(null, null)
  }

  /** True when this limit refused the filter (quota), not an earlier hook (ACL). */
  refusedByLimit (sub: Subscription): boolean {
    return this.refusedHere.has(sub)
  }

  /** Aedes's 'unsubscribe' event: the filters no longer count. */
  readonly unsubscribed = (topics: string[], client: Client): void => {
    const filters = this.granted.get(client)
    if (filters) for (const topic of topics) filters.delete(topic)
  }
}
