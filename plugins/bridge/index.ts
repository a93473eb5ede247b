// The log bridge plugin: PUBLISH packets matching a rule become records in a stream
// (embedded segment log or Redis Streams). Wiring only; the pieces live next to it.
//
// Steps of a client PUBLISH through the bridge (authorizePublish, after auth and retained):
//   skipRetransmission -> matchStreams -> appendRecords -> (durable: wait for fsync;
//   written: wait for the write) -> done
// then Aedes publishes; the `published` hook forgets the packet id (answer written).
// Broker-originated publishes (broker.publish from code, $SYS, wills of expired sessions)
// never pass authorizePublish: the `published` hook appends those, async, never durable.
//
// Rules come parsed from loadConfig (the list option's parseItem): flag strings
// 'FILTER=STREAM[:ack][:store]' or {"filter", "stream", "ack", "store"} objects in the file.
import type { Client, PublishPacket } from 'aedes'
import { Counter, Gauge } from 'prom-client'
import { connectionInfo } from '../../src/connection.js'
import type { Plugin, PluginContext, PluginHandle } from '../../src/plugin.js'
import { pluginSettings } from '../../src/plugin.js'
import type { OptionSpec } from '../../src/options.js'
import type { MessageExtras } from '../../src/protocol/message-extras.js'
import { InflightIds } from './dedup.js'
import { registerStreamApi } from './http.js'
import type { RecordInput } from './log/record.js'
import { MATCH_DURABLE, MATCH_NONE, MATCH_WRITTEN, matchRoute, parseRule, routeByStream, type Rule, type StreamRoute } from './rules.js'
import { EmbeddedStore, type StreamStore } from './store.js'
import { StreamRegistry } from './streams.js'

export interface BridgeSettings {
  rules: Rule[]
  segmentSize: number
  retentionSize: number
  retentionTime: number | null
  redisMaxlen: number
  asyncBuffer: number
}

export const bridgeOptions: readonly OptionSpec[] = [
  { key: 'bridge.rules', flag: '--bridge-rule', type: 'list', parseItem: parseRule, default: [], defaultText: '(none)', help: "mirror matching PUBLISHes into a stream: 'FILTER=STREAM[:durable|written|async][:embedded|redis]' (repeatable; durable = PUBACK after the record is fsynced, written = after the OS has it)" },
  { key: 'bridge.segmentSize', type: 'size', min: 4096, default: 64 * 1024 * 1024, help: 'log bridge: roll to a new segment file at this size' },
  { key: 'bridge.retentionSize', type: 'size', min: 0, default: 0, defaultText: '0 (no limit)', help: 'log bridge: delete the oldest segments while a stream is larger than this' },
  { key: 'bridge.retentionTime', type: 'duration', allowOff: true, min: 1000, default: 7 * 86_400_000, help: 'log bridge: delete segments whose newest record is older than this' },
  { key: 'bridge.redisMaxlen', type: 'int', min: 0, default: 1_000_000, help: 'log bridge, Redis store: approximate entries kept per stream (XADD MAXLEN ~; 0 = no limit)' },
  { key: 'bridge.asyncBuffer', type: 'size', min: 0, default: 16 * 1024 * 1024, help: 'log bridge: bytes of ack:async records waiting for the disk before new ones are dropped (counted)' }
]

/** A PUBLISH as the hooks see it: the protocol core routes its MQTT 5 properties and expiry with it. */
type BridgedPacket = PublishPacket & MessageExtras

const noop = (): void => {}
const OVERFLOW_LOG_MS = 10_000

export const bridgePlugin: Plugin = {
  name: 'bridge',
  options: bridgeOptions,
  async setup (ctx) {
    return await setupBridge(ctx, pluginSettings<BridgeSettings>(ctx.config, 'bridge'))
  }
}

interface Route extends StreamRoute<StreamStore> {
  dropped: Counter.Internal
  droppedSinceLog: number
  lastOverflowLog: number
}

async function setupBridge (ctx: PluginContext, settings: BridgeSettings): Promise<PluginHandle> {
  const { config, broker, hooks, log, metrics } = ctx
  const rules = settings.rules ?? []
  const registry = await StreamRegistry.open(rules, {
    dataDir: ctx.storage.dataDir,
    defaultStore: config.storage === 'redis' ? 'redis' : 'embedded',
    log: { segmentBytes: settings.segmentSize, retentionBytes: settings.retentionSize, retentionMs: settings.retentionTime, maxPendingBytes: settings.asyncBuffer },
    redis: { url: ctx.storage.redisUrl ?? config.redisUrl, maxLen: settings.redisMaxlen, maxPending: 100_000 },
    events: log
  })
  const registers = [metrics]
  new Counter({
    name: 'swallow_bridge_records_total',
    help: 'Records appended to log bridge streams',
    labelNames: ['stream'],
    registers,
    // Read from the stores' own counts at scrape time: a labelled inc() per record was ~1-2%
    // of the broker's busy time at 1->1 QoS 1.
    collect () {
      this.reset()
      for (const store of registry.list()) if (store.appended > 0) this.labels(store.name).inc(store.appended)
    }
  })
  const droppedTotal = new Counter({ name: 'swallow_bridge_dropped_total', help: 'ack:async records dropped (buffer full or write failed)', labelNames: ['stream'], registers })
  const duplicates = new Counter({ name: 'swallow_bridge_duplicates_total', help: 'QoS 1/2 retransmissions not appended again', registers })
  const writeErrors = new Counter({ name: 'swallow_bridge_write_errors_total', help: 'Failed store writes (durable publishers were not acknowledged)', registers })
  new Gauge({
    name: 'swallow_bridge_damaged_records',
    help: 'Records lost in damaged (CRC) ranges of embedded stream segments; readers skip them',
    labelNames: ['stream'],
    registers,
    collect () { for (const store of registry.list()) this.set({ stream: store.name }, store.damage().records) }
  })
  new Gauge({
    name: 'swallow_bridge_damaged_bytes',
    help: 'Unreadable bytes in embedded stream segments',
    labelNames: ['stream'],
    registers,
    collect () { for (const store of registry.list()) this.set({ stream: store.name }, store.damage().bytes) }
  })

  const inflight = new InflightIds()
  const routes: Route[] = routeByStream(rules, name => registry.get(name) as StreamStore).map(r => ({
    ...r, dropped: droppedTotal.labels(r.stream), droppedSinceLog: 0, lastOverflowLog: 0
  }))
  for (const store of registry.list()) {
    // The files' health is in /healthz (storage.writes); Redis's is watched by the core already.
    const name = `log bridge stream ${store.name}`
    const files = store instanceof EmbeddedStore
    store.onError = err => {
      writeErrors.inc()
      if (files) ctx.storage.writes.failed(name, err)
    }
    if (store instanceof EmbeddedStore) store.onWritten = () => { ctx.storage.writes.succeeded(name) }
  }
  // One scratch record: every store encodes it synchronously, so it is reused per message.
  const scratch: RecordInput = { topic: '', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false, messageId: 0, clientId: null, username: null, properties: null, messageExpiry: null }
  const matched = new Uint8Array(routes.length)

  const overflow = (route: Route): void => {
    route.dropped.inc()
    route.droppedSinceLog++
    const now = Date.now()
    if (now - route.lastOverflowLog >= OVERFLOW_LOG_MS) {
      log.warn({ stream: route.stream, dropped: route.droppedSinceLog }, `log bridge: dropped ${route.droppedSinceLog} ack:async records for stream ${route.stream} (buffer full, --bridge-async-buffer)`)
      route.droppedSinceLog = 0
      route.lastOverflowLog = now
    }
  }

  /** Step matchStreams: fills matched[] (a RouteMatch: none, async, written, durable) per stream; true if any. */
  const matchStreams = (topic: string): boolean => {
    let any = false
    for (let i = 0; i < routes.length; i++) {
      matched[i] = matchRoute(routes[i], topic)
      if (matched[i] !== MATCH_NONE) any = true
    }
    return any
  }

  /**
   * Step appendRecords (after matchStreams): one record per matched stream. With `mayWait`,
   * `done` runs once every durable append is fsynced and every written one is written;
   * otherwise at once.
   */
  const appendRecords = (packet: BridgedPacket, client: Client | null, done: (err?: Error | null) => void, mayWait: boolean): void => {
    let waits = 0
    if (mayWait) for (let i = 0; i < routes.length; i++) if (matched[i] >= MATCH_WRITTEN) waits++
    scratch.topic = packet.topic
    scratch.payload = packet.payload
    scratch.qos = packet.qos
    scratch.retain = packet.retain
    scratch.dup = packet.dup
    scratch.messageId = packet.messageId ?? 0
    scratch.clientId = client ? client.id : null
    scratch.username = client ? connectionInfo(client).username ?? null : null
    scratch.properties = packet.properties ?? null
    scratch.messageExpiry = packet.messageExpiry ?? null
    const time = Date.now()
    const join = waits > 1 ? new Join(waits, done) : null
    for (let i = 0; i < routes.length; i++) {
      const m = matched[i]
      if (m === MATCH_NONE) continue
      const route = routes[i]
      const settled = mayWait ? (join ? join.one : done) : noop
      if (m === MATCH_DURABLE) route.target.appendDurable(scratch, time, settled)
      else if (m === MATCH_WRITTEN) route.target.appendWritten(scratch, time, settled)
      else if (!route.target.appendAsync(scratch, time)) overflow(route)
    }
    if (waits === 0) done(null)
  }

  if (routes.length > 0) {
    hooks.add('authorizePublish', function bridgeAppend (client, packet, done) {
      // Wills of sessions that expired while the broker was down come with a null client;
      // they are appended by the published hook like other broker publishes.
      if (client === null || !matchStreams(packet.topic)) return done(null)
      const id = packet.messageId
      if (packet.qos === 0 || id === undefined) return appendRecords(packet, client, done, packet.qos > 0)
      // A QoS 2 retransmission of a message already received never gets here: the protocol
      // core answers it with PUBREC (src/protocol/handlers/publish.ts).
      if (packet.dup && inflight.joinDuplicate(client.id, id, err => { duplicates.inc(); done(err) })) return
      appendRemembered(packet, client, id, done)
    })

    /** Step appendRecords for a QoS 1/2 message whose id is remembered while it is stored. */
    const appendRemembered = (packet: BridgedPacket, client: Client, id: number, done: (err?: Error | null) => void): void => {
      inflight.begin(client.id, id)
      appendRecords(packet, client, err => {
        inflight.settle(client.id, id, err)
        done(err)
      }, true)
    }

    hooks.add('published', function bridgePublished (packet, client, done) {
      if (!client) {
        if (matchStreams(packet.topic)) appendRecords(packet as unknown as BridgedPacket, null, noop, false)
        return done(null)
      }
      done(null)
      // done() wrote the PUBACK/PUBREC if the connection is still open: the client may reuse
      // the id now. If it closed, no answer went out and a retransmission will come: keep it.
      if (packet.qos > 0 && packet.messageId !== undefined && client.connected) {
        inflight.delete(client.id, packet.messageId)
      }
    })
    broker.on('clientDisconnect', client => inflight.release(client.id))
    log.info({ rules: rules.map(r => `${r.filter}=${r.stream}:${r.ack}:${r.store ?? (config.storage === 'redis' ? 'redis' : 'embedded')}`) }, `log bridge: ${rules.length} rule(s) into ${routes.length} stream(s)`)
  }

  registerStreamApi(ctx.http, registry, { log })

  return {
    drain: () => registry.drain(),
    async close () {
      await registry.close()
    }
  }
}

/** Calls `done` once all waited-for appends of a message finished (first error wins). */
class Join {
  constructor (private remaining: number, private readonly done: (err?: Error | null) => void) {}
  private failed = false
  readonly one = (err?: Error | null): void => {
    if (this.failed) return
    if (err) {
      this.failed = true
      return this.done(err)
    }
    if (--this.remaining === 0) this.done(null)
  }
}
