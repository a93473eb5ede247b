// Delayed publish: a PUBLISH to `$delayed/<seconds>/<topic>` (EMQX's spelling) is stored
// durably, acknowledged, and published to <topic> when it is due, with its QoS, retain flag
// and MQTT 5 properties. Wiring only; the pieces live next to it (README.md: the hook order).
//
// Steps at store time (authorizePublish, after the core's $-topic rule and the ACL, which
// both saw the inner topic: the PUBLISH handler took the prefix off into `delayed`):
//   checkDelay -> add to the backend (durable; --delayed-max-pending) -> deferPublish -> PUBACK
// At release (scheduler.ts, release.ts): the hooks after this one (log bridge), then
// the core's publish route (PluginContext.publish), then the record is removed.
import { join } from 'node:path'
import type { PublishPacket } from 'aedes'
import { Counter, Gauge, Histogram } from 'prom-client'
import { connectionInfo } from '../../src/connection.js'
import type { AuthorizePublishHandler } from '../../src/hooks.js'
import type { Plugin, PluginContext, PluginHandle } from '../../src/plugin.js'
import { pluginSettings } from '../../src/plugin.js'
import type { RoutedPacket } from '../../src/protocol/types.js'
import { RepeatLimiter } from '../../src/repeat-limiter.js'
import { registerDelayedApi } from './api.js'
import type { DelayedBackend } from './backend.js'
import { checkDelay, REFUSAL_CODE, type RefusalReason } from './limits.js'
import { LevelBackend, MemoryBackend } from './local-backend.js'
import { newId, type DelayedRecord } from './record.js'
import { RedisBackend } from './redis-backend.js'
import { releaser } from './release.js'
import { Scheduler } from './scheduler.js'

interface DelayedSettings {
  max: number
  maxPending: number
}

/** With Redis, how often a node looks for records other nodes stored (or left behind). */
const CLUSTER_POLL_MS = 1000

export const delayedPlugin: Plugin = {
  name: 'delayed',
  options: [
    { key: 'delayed.max', flag: '--delayed-max', type: 'duration', min: 1000, default: 86_400_000, help: 'longest delay of a $delayed/<seconds>/<topic> PUBLISH; a longer one is refused (MQTT 5: PUBACK 0x83)' },
    { key: 'delayed.maxPending', flag: '--delayed-max-pending', type: 'int', min: 1, default: 100_000, help: 'most delayed messages waiting (cluster-wide with Redis); beyond it new ones are refused (MQTT 5: PUBACK 0x97)' }
  ],
  async setup (ctx) {
    return await setupDelayed(ctx, pluginSettings<DelayedSettings>(ctx.config, 'delayed'))
  }
}

async function setupDelayed ({ storage, hooks, publish, http, metrics, log }: PluginContext, settings: DelayedSettings): Promise<PluginHandle> {
  const backend: DelayedBackend = storage.kind === 'redis' && storage.redisUrl !== null
    ? new RedisBackend(storage.redisUrl, log)
    : storage.kind === 'embedded' ? new LevelBackend(join(storage.dataDir, 'delayed'), storage.dataDir, log, storage.writes) : new MemoryBackend()
  await backend.open()

  const registers = [metrics]
  // A scrape must not wait for Redis while it is away: the last count after 500 ms.
  let lastPending = 0
  const pendingForScrape = async (): Promise<number> => await Promise.race([
    backend.pending().catch(() => lastPending),
    new Promise<number>(resolve => setTimeout(() => resolve(lastPending), 500).unref())
  ])
  new Gauge({ name: 'swallow_delayed_pending', help: 'Delayed messages waiting to be published (cluster-wide with Redis)', registers, async collect () { this.set(lastPending = await pendingForScrape()) } })
  const published = new Counter({ name: 'swallow_delayed_published_total', help: 'Delayed messages published when due', registers })
  const refused = new Counter({ name: 'swallow_delayed_refused_total', help: 'Delayed PUBLISHes not stored, by reason (malformed, too_long, pending_full)', labelNames: ['reason'], registers })
  const expired = new Counter({ name: 'swallow_delayed_expired_total', help: 'Delayed messages not published: their Message Expiry Interval ended while they waited', registers })
  const cancelled = new Counter({ name: 'swallow_delayed_cancelled_total', help: 'Delayed messages cancelled through the admin API', registers })
  const lateness = new Histogram({
    name: 'swallow_delayed_lateness_seconds',
    help: 'Release time minus due time of published delayed messages',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers
  })
  const warnings = new RepeatLimiter(log, { limit: 1, windowMs: 60_000 })

  const refuse = (packet: RoutedPacket, clientId: string, reason: RefusalReason, problem: string): void => {
    refused.inc({ reason })
    warnings.warn({ clientId, topic: packet.topic.slice(0, 200), delay: packet.delayed?.slice(0, 20), reason }, `delayed PUBLISH refused: ${problem}`)
    hooks.dropPublish(packet as unknown as PublishPacket, REFUSAL_CODE[reason])
  }

  const releasedNotRemoved = new Set<string>()
  const scheduler = new Scheduler(backend, {
    pollMs: backend instanceof RedisBackend ? CLUSTER_POLL_MS : null,
    warn: (fields, msg) => warnings.warn(fields, msg),
    release: async record => {
      // A record whose removal failed (disk full) is not published again when it is retried.
      if (!releasedNotRemoved.has(record.id)) {
        const outcome = await release(record)
        releasedNotRemoved.add(record.id)
        if (outcome === 'published') {
          published.inc()
          lateness.observe(Math.max(0, Date.now() - record.dueAt) / 1000)
        } else if (outcome === 'expired') expired.inc()
      }
      // A cancellation may have removed it meanwhile: it was published all the same.
      await backend.remove(record.id)
      releasedNotRemoved.delete(record.id)
    }
  })

  const delayedStore: AuthorizePublishHandler = (client, packet, done) => {
    const message = packet as unknown as RoutedPacket
    if (message.delayed === undefined || client === null) return done(null)
    const check = checkDelay(message.delayed, message.topic, settings.max)
    if (!check.ok) {
      refuse(message, client.id, check.reason, check.problem)
      return done(null)
    }
    const now = Date.now()
    const record: DelayedRecord = {
      id: newId(now + check.delayMs),
      topic: message.topic,
      payload: message.payload,
      qos: message.qos,
      retain: message.retain,
      dueAt: now + check.delayMs,
      storedAt: now,
      clientId: client.id,
      username: connectionInfo(client).username ?? null,
      properties: message.properties ?? null,
      messageExpiry: message.messageExpiry ?? null
    }
    backend.add(record, settings.maxPending).then(stored => {
      if (!stored) {
        refuse(message, client.id, 'pending_full', `${settings.maxPending} delayed messages wait already (--delayed-max-pending)`)
        return done(null)
      }
      hooks.deferPublish(packet)
      scheduler.added(record.dueAt)
      done(null)
    }, (err: Error) => {
      // Not acknowledged: the connection closes and the client sends it again.
      log.warn({ err: err.message, clientId: client.id }, 'delayed publish: storing a delayed message failed')
      done(err)
    })
  }
  hooks.add('authorizePublish', delayedStore)
  const release = releaser(publish, hooks, delayedStore)

  registerDelayedApi(http, backend, () => cancelled.inc())
  log.debug({ store: backend.name, maxMs: settings.max, maxPending: settings.maxPending }, 'delayed publish ready')

  return {
    // Not in setup: what is overdue after a restart must meet the retained store and the log bridge.
    start: () => scheduler.start(),
    // Releases in progress finish (their records are removed) before the clients go.
    drain: async () => await scheduler.stop(),
    async close () {
      await scheduler.stop()
      await backend.close()
    }
  }
}
