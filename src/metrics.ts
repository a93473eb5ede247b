// The prom-client registry shared by the core and the plugins, and the core's metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { SharedGroupFigures } from './protocol/shared-members.js'

export type { Registry }

export interface CoreMetrics {
  registry: Registry
  connects: Counter<'transport'>
  disconnects: Counter<'reason'>
  messagesIn: QoSCounts
  messagesOut: QoSCounts
  dropped: Counter<'reason'>
  protocolErrors: Counter<'reason'>
  queueFull: Counter
  queueSpilled: Counter
  sessionsRefused: Counter
  subscriptionsRefused: Counter<'reason'>
  sessionsExpired: Counter
  sharedRedispatched: Counter<'group'>
  storageOps: Histogram<'op'>
  storageErrors: Counter<'op'>
  storageUp: Gauge
}

/**
 * Messages by QoS, counted as plain numbers on the message path and handed to prom-client
 * when /metrics (or $SYS) reads them: a labelled prom-client inc() per message was ~1.2% of the
 * broker's busy time in the fan-in benchmark.
 */
export class QoSCounts {
  readonly counts = [0, 0, 0]

  inc (qos: number): void {
    this.counts[qos]++
  }
}

function qosCounter (registry: Registry, name: string, help: string): QoSCounts {
  const counts = new QoSCounts()
  // Registered in the registry, which is how /metrics and $SYS read it.
  new Counter({
    name,
    help,
    labelNames: ['qos'],
    registers: [registry],
    collect () {
      this.reset()
      counts.counts.forEach((n, qos) => { if (n > 0) this.labels(String(qos)).inc(n) })
    }
  })
  return counts
}

export function createMetrics (): CoreMetrics {
  const registry = new Registry()
  // process_* and nodejs_* metrics, including nodejs_eventloop_lag_seconds (and its percentiles).
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 })
  return {
    registry,
    connects: new Counter({ name: 'swallow_connects_total', help: 'Accepted MQTT connections (CONNACK 0 sent)', labelNames: ['transport'], registers: [registry] }),
    disconnects: new Counter({ name: 'swallow_disconnects_total', help: 'Client disconnects by reason', labelNames: ['reason'], registers: [registry] }),
    messagesIn: qosCounter(registry, 'swallow_messages_received_total', 'PUBLISH packets received from clients, by QoS'),
    messagesOut: qosCounter(registry, 'swallow_messages_sent_total', 'PUBLISH packets sent to clients, by QoS'),
    dropped: new Counter({ name: 'swallow_dropped_messages_total', help: 'Messages not delivered to a client, by reason', labelNames: ['reason'], registers: [registry] }),
    protocolErrors: new Counter({ name: 'swallow_connection_errors_total', help: 'Connections closed because of an error, by reason', labelNames: ['reason'], registers: [registry] }),
    queueFull: new Counter({ name: 'swallow_queue_full_total', help: 'QoS 1/2 deliveries that waited because the receiving client\'s queue was full (--max-queued)', registers: [registry] }),
    sessionsRefused: new Counter({ name: 'swallow_sessions_refused_total', help: 'CONNECTs refused because --max-sessions stored sessions exist', registers: [registry] }),
    queueSpilled: new Counter({ name: 'swallow_queue_spilled_total', help: 'QoS 1/2 messages of a persistent session left in its stored queue (sent from there later) because its memory queue was full', registers: [registry] }),
    sharedRedispatched: new Counter({ name: 'swallow_shared_redispatched_total', help: 'Shared-subscription messages given to another member because the first left before acknowledging them (or its node died), by group ($share/GROUP/FILTER)', labelNames: ['group'], registers: [registry] }),
    sessionsExpired: new Counter({ name: 'swallow_sessions_expired_total', help: 'Stored sessions deleted because their Session Expiry Interval (or --max-session-expiry) passed', registers: [registry] }),
    subscriptionsRefused: new Counter({ name: 'swallow_subscriptions_refused_total', help: 'Topic filters refused in a SUBACK by a broker limit, by reason', labelNames: ['reason'], registers: [registry] }),
    storageOps: new Histogram({
      name: 'swallow_storage_operation_seconds',
      help: 'Latency of session storage operations, by operation (one operation in 16 is timed)',
      labelNames: ['op'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry]
    }),
    storageErrors: new Counter({ name: 'swallow_storage_errors_total', help: 'Session storage operations that failed, by operation (each fails one client\'s operation, logged once per client)', labelNames: ['op'], registers: [registry] }),
    storageUp: new Gauge({ name: 'swallow_storage_up', help: '1 when session storage is healthy, 0 when degraded', registers: [registry] })
  }
}

/** Per shared-subscription group (src/protocol/shared-groups.ts), read when /metrics is scraped. */
export function sharedGroupGauges (registry: Registry, figures: () => SharedGroupFigures[]): void {
  new Gauge({
    name: 'swallow_shared_group_members',
    help: 'Members of each shared-subscription group ($share/GROUP/FILTER), connected or offline (persistent sessions)',
    labelNames: ['group', 'state'],
    registers: [registry],
    collect () {
      this.reset()
      for (const g of figures()) {
        this.set({ group: g.key, state: 'connected' }, g.members)
        this.set({ group: g.key, state: 'offline' }, g.offline)
      }
    }
  })
  new Gauge({
    name: 'swallow_shared_group_backlog',
    help: 'QoS 1/2 messages waiting in each shared group\'s backlog while none of its members is connected',
    labelNames: ['group'],
    registers: [registry],
    collect () {
      this.reset()
      for (const g of figures()) this.set({ group: g.key }, g.backlog)
    }
  })
  // Counted by the group as a plain number (a labelled inc() per message costs, see QoSCounts);
  // one series per group, not per member: per-member counts are in $SYS (plugins/sys).
  new Counter({
    name: 'swallow_shared_deliveries_total',
    help: 'Messages each shared-subscription group gave to one of its members on this node since the group was made here (a redispatch counts again)',
    labelNames: ['group'],
    registers: [registry],
    collect () {
      this.reset()
      for (const g of figures()) if (g.delivered > 0) this.labels(g.key).inc(g.delivered)
    }
  })
}
