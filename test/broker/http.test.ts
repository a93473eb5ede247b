// GET /healthz and GET /metrics, and the WebSocket Origin allow-list.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { WebSocket } from 'ws'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { connect } from '../helpers/mqtt.js'

let broker: BrokerProcess
before(async () => { broker = await startBroker({ args: ['--ws-origins', 'http://allowed.example'] }) })
after(async () => { await broker.stop() })

test('GET /healthz reports status, uptime, storage state and listener addresses', async () => {
  const res = await fetch(`${broker.httpUrl}/healthz`)
  assert.equal(res.status, 200)
  const body = await res.json() as Record<string, any>
  assert.equal(body.status, 'ok')
  assert.equal(typeof body.uptimeSeconds, 'number')
  assert.deepEqual(body.storage, { kind: 'embedded', state: 'ok', failingWrites: [] })
  assert.equal(body.listeners.mqtt, broker.mqttUrl)
  assert.equal(body.listeners.ws, broker.wsUrl)
  assert.equal(body.listeners.http, broker.httpUrl)
})

test('GET /metrics exposes the core metrics in Prometheus text format', async () => {
  const client = await connect(broker.mqttUrl)
  await client.subscribeAsync('m/#', { qos: 1 })
  await client.publishAsync('m/x', 'hello', { qos: 1 })
  const res = await fetch(`${broker.httpUrl}/metrics`)
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/)
  const text = await res.text()
  await client.endAsync()
  for (const line of [
    /^swallow_clients_connected 1$/m,
    /^swallow_connects_total\{transport="tcp"\} \d+$/m,
    /^swallow_messages_received_total\{qos="1"\} 1$/m,
    /^swallow_messages_sent_total\{qos="1"\} 1$/m,
    /^swallow_subscriptions 1$/m,
    /^swallow_bytes_received_total \d+$/m,
    /^swallow_bytes_sent_total \d+$/m,
    /^swallow_storage_operation_seconds_bucket\{le="[^"]+",op="[a-zA-Z]+"\} \d+$/m,
    /^# TYPE swallow_dropped_messages_total counter$/m,
    /^nodejs_eventloop_lag_seconds [\d.e-]+$/m
  ]) assert.match(text, line)
})

test('unknown paths get 404 and wrong methods 405, as JSON', async () => {
  assert.equal((await fetch(`${broker.httpUrl}/nope`)).status, 404)
  assert.equal((await fetch(`${broker.httpUrl}/metrics`, { method: 'POST' })).status, 405)
})

function openWs (origin: string): Promise<'open' | 'refused'> {
  return new Promise(resolve => {
    const ws = new WebSocket(broker.wsUrl, ['mqtt'], { origin })
    ws.once('open', () => { ws.close(); resolve('open') })
    ws.once('error', () => resolve('refused'))
  })
}

test('--ws-origins: a listed Origin connects, another is refused', async () => {
  assert.equal(await openWs('http://allowed.example'), 'open')
  assert.equal(await openWs('http://evil.example'), 'refused')
})
