// The core's HTTP routes: GET /healthz and GET /metrics, and the gauges read at scrape time.
import type { Aedes } from 'aedes'
import { Counter, Gauge } from 'prom-client'
import { registeredClients } from './aedes-seam.js'
import type { Config } from './config.js'
import { sendJson, type HttpRoutes } from './listeners/http.js'
import type { Listener } from './listeners/listen.js'
import type { CoreMetrics } from './metrics.js'
import type { StorageHandles } from './storage.js'
import type { Traffic } from './traffic.js'

export interface CoreRouteContext {
  config: Config
  broker: Aedes
  storage: StorageHandles
  metrics: CoreMetrics
  traffic: Traffic
  listeners: Listener[]
  startedAt: number
  version: string
}

export function addCoreRoutes (routes: HttpRoutes, ctx: CoreRouteContext): void {
  const { broker, storage, metrics, traffic } = ctx
  const registers = [metrics.registry]
  new Gauge({ name: 'swallow_clients_connected', help: 'Connected MQTT clients', registers, collect () { this.set(broker.connectedClients) } })
  new Gauge({
    name: 'swallow_subscriptions',
    help: 'Subscriptions of connected clients',
    registers,
    collect () {
      let n = 0
      for (const c of registeredClients(broker)) n += Object.keys(c.subscriptions).length
      this.set(n)
    }
  })
  const bytesIn = new Counter({ name: 'swallow_bytes_received_total', help: 'Bytes received on client connections', registers })
  const bytesOut = new Counter({ name: 'swallow_bytes_sent_total', help: 'Bytes sent on client connections', registers })
  let reported = { read: 0, written: 0 }
  const collectTraffic = (): void => {
    const now = traffic.totals()
    bytesIn.inc(Math.max(0, now.read - reported.read))
    bytesOut.inc(Math.max(0, now.written - reported.written))
    reported = now
  }

  routes.add('GET', '/healthz', (_req, res) => {
    const storageState = storage.state()
    sendJson(res, storageState === 'ok' ? 200 : 503, {
      status: storageState === 'ok' ? 'ok' : 'degraded',
      version: ctx.version,
      uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000),
      // failingWrites: the stores whose writes fail now (disk full), with the error and since when.
      storage: { kind: storage.kind, state: storageState, failingWrites: storage.writes.list() },
      clients: broker.connectedClients,
      listeners: Object.fromEntries(ctx.listeners.map(l => [l.name, l.url]))
    })
  })

  routes.add('GET', '/metrics', async (_req, res) => {
    collectTraffic()
    const text = await metrics.registry.metrics()
    res.writeHead(200, { 'content-type': metrics.registry.contentType })
    res.end(text)
  })
}
