// The retained-message store plugin: takes retained messages out of the session storage
// into a store built for them (embedded LevelDB, Redis, or memory, following --storage),
// with an index for wildcard subscriptions, limits, expiry, an admin API and metrics.
//
// It plugs in behind Aedes's three retained calls on the persistence object, before any
// client connects: storeRetained (part of the publish pipeline, so a QoS 1/2 publisher is
// acknowledged only once the message is stored), createRetainedStreamCombi and
// createRetainedStream (read by a new subscription, delivered through client.deliverQoS).
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { Counter, Gauge } from 'prom-client'
import type { Client } from 'aedes'
import { subscriptionsOf } from '../../src/aedes-seam.js'
import type { Plugin } from '../../src/plugin.js'
import { pluginSettings } from '../../src/plugin.js'
import { registerRetainedApi } from './api.js'
import type { RetainedBackend } from './backend.js'
import { parseExpiryRule, type ExpiryRule } from './expiry.js'
import { importLegacyRetained } from './migrate.js'
import { LevelBackend, MemoryBackend } from './level-backend.js'
import { RedisBackend } from './redis-backend.js'
import { RetainedStore, type RetainPacket } from './store.js'
import type { Subscriber } from './stream.js'

interface RetainedSettings {
  maxMessages: number | null
  maxPayload: number | null
  expiry: ExpiryRule[]
}

export const retainedPlugin: Plugin = {
  name: 'retained',
  options: [
    { key: 'retained.maxMessages', flag: '--retained-max-messages', type: 'int', min: 1, allowOff: true, default: null, defaultText: 'unlimited', help: 'most retained messages kept; beyond it new retained topics are delivered but not retained (counted, logged)' },
    { key: 'retained.maxPayload', flag: '--retained-max-payload', type: 'size', allowOff: true, default: null, defaultText: 'unlimited', help: 'largest retained payload kept; a bigger one is delivered but not retained (and clears the topic\'s previous one)' },
    { key: 'retained.expiry', flag: '--retained-expiry', type: 'list', parseItem: parseExpiryRule, default: [], defaultText: '(never expire)', help: 'FILTER=DURATION: retained messages on matching topics expire, e.g. devices/+/status=24h (repeatable; first match wins)' }
  ],
  async setup ({ config, storage, http, metrics, broker, log }) {
    const settings = pluginSettings<RetainedSettings>(config, 'retained')
    const expiry = settings.expiry ?? []
    const backend: RetainedBackend = storage.kind === 'redis' && storage.redisUrl !== null
      ? new RedisBackend(storage.redisUrl, log)
      : storage.kind === 'embedded' ? new LevelBackend(join(storage.dataDir, 'retained'), storage.dataDir, log, storage.writes) : new MemoryBackend()

    const refused = new Counter({ name: 'swallow_retained_refused_total', help: 'Retained messages delivered but not retained, by the limit they broke', labelNames: ['reason'], registers: [metrics] })
    const expired = new Counter({ name: 'swallow_retained_expired_total', help: 'Retained messages removed when they expired (--retained-expiry, MQTT 5 Message Expiry Interval)', registers: [metrics] })
    const store = new RetainedStore(backend, {
      limits: { maxMessages: settings.maxMessages ?? null, maxPayload: settings.maxPayload ?? null },
      expiry,
      refused,
      expired,
      // Below the core's QoS 0 drop threshold (--max-queued-bytes), so retained QoS 0 messages are not dropped.
      pauseAtBytes: Math.max(16 * 1024, Math.floor(config.maxQueuedBytes / 2))
    }, log)
    new Gauge({ name: 'swallow_retained_messages', help: 'Retained messages stored', registers: [metrics], collect () { this.set(store.trie.count) } })
    new Gauge({ name: 'swallow_retained_bytes', help: 'Payload bytes of the retained messages stored', registers: [metrics], collect () { this.set(store.trie.bytes) } })
    await store.open()

    const persistence = storage.persistence
    const legacyStream = persistence.createRetainedStream as (filter: string) => Readable
    await importLegacyRetained(backend, legacyStream.bind(persistence), log)
    storage.replaceOperation('storeRetained', (packet: RetainPacket) => store.store(packet))
    // Aedes emits 'subscribe' and then, in the same synchronous step, asks for the retained
    // messages of that SUBSCRIBE: that is how the stream learns its subscriber (the stream
    // checks that the filters are the client's before relying on it).
    let subscriber: Subscriber | null = null
    broker.on('subscribe', (_subs, client) => { subscriber = asSubscriber(client) })
    storage.replaceOperation('createRetainedStreamCombi', (filters: string[]) => {
      const client = subscriber
      subscriber = null
      return store.stream(filters, client)
    })
    storage.replaceOperation('createRetainedStream', (filter: string) => store.stream([filter]))

    registerRetainedApi(http, store)

    // $SYS/broker/retained messages/count, as Mosquitto names it, on the $SYS plugin's interval.
    const interval = (config.sections.sys?.interval ?? null) as number | null
    let sys: NodeJS.Timeout | null = null
    if (interval !== null) {
      sys = setInterval(() => {
        broker.publish({ cmd: 'publish', topic: '$SYS/broker/retained messages/count', payload: Buffer.from(String(store.trie.count)), qos: 0, retain: true, dup: false }, () => {})
      }, interval)
      sys.unref()
    }
    return {
      async close () {
        if (sys !== null) clearInterval(sys)
        await store.close()
      }
    }
  }
}

function asSubscriber (client: Client): Subscriber {
  return {
    get closed () { return client.closed },
    subscriptions: subscriptionsOf(client),
    conn: client.conn
  }
}
