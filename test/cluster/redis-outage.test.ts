// Redis unreachable at start, lost while running, restarted under load, and the
// pub/sub gap that loses messages in a plain Aedes + mqemitter-redis cluster.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { runCli, startBroker, type BrokerProcess } from '../helpers/broker.js'
import { collect, connect, publishStream, publishUntilReceived } from '../helpers/mqtt.js'
import { needRedis, startRedis } from '../helpers/redis.js'
import { freePort, sleep, tempDir, waitFor } from '../helpers/system.js'

const skip = needRedis()

test('Redis unreachable at start: one clear line and a non-zero exit within 10 s', { skip }, async () => {
  const port = await freePort()
  const dir = tempDir()
  const started = Date.now()
  const r = await runCli(['start', '--storage', 'redis', '--redis-url', `redis://:secret@127.0.0.1:${port}/0`, '--mqtt-port', '0', '--ws-port', 'off', '--http-port', 'off', '--data-dir', dir.path])
  dir.remove()
  assert.equal(r.code, 1)
  assert.ok(Date.now() - started < 10_000)
  assert.equal(r.stderr.trim().split('\n').length, 1)
  assert.match(r.stderr, new RegExp(`cannot reach Redis at redis://:\\*\\*\\*@127.0.0.1:${port}/0: .*ECONNREFUSED.*; start Redis or fix --redis-url`))
})

async function health (broker: BrokerProcess): Promise<{ status: number, body: Record<string, any> }> {
  const res = await fetch(`${broker.httpUrl}/healthz`)
  return { status: res.status, body: await res.json() as Record<string, any> }
}

test('Redis lost while running: degraded on /healthz and /metrics, logged once, no PUBACK until it is back, then everything lands', { skip }, async () => {
  const redis = await startRedis(['--appendonly', 'yes'])
  const a = await startBroker({ storage: 'redis', redisUrl: redis.url })
  const b = await startBroker({ storage: 'redis', redisUrl: redis.url })
  try {
    const sub = await connect(a.mqttUrl, { clientId: 'outage-sub', clean: false })
    const got = new Set<string>()
    sub.on('message', (_t, p) => got.add(p.toString()))
    await sub.subscribeAsync('outage/#', { qos: 1 })
    const pub = await connect(b.mqttUrl, { reconnectPeriod: 0 })
    await publishUntilReceived(pub, collect(sub), 'outage/probe') // the subscription has reached node B

    await redis.stop()
    await waitFor(async () => (await health(b)).body.storage.state === 'degraded', 5000, 'degraded state')
    const h = await health(b)
    assert.equal(h.status, 503)
    assert.equal(h.body.status, 'degraded')
    const metrics = await (await fetch(`${b.httpUrl}/metrics`)).text()
    assert.match(metrics, /^swallow_storage_up 0$/m)

    let acked = false
    const during = pub.publishAsync('outage/x', 'during', { qos: 1 }).then(() => { acked = true })
    await sleep(1500)
    assert.equal(acked, false, 'no PUBACK while Redis is down')

    await redis.start()
    await during
    await waitFor(async () => (await health(b)).body.storage.state === 'ok', 10_000, 'ok state')
    await waitFor(() => got.has('during'), 5000, 'the message sent during the outage')
    const lostLines = b.logs.filter(l => String(l.msg).startsWith('Redis connection lost'))
    assert.equal(lostLines.length, 1, 'one log line per state change, not per message')
    assert.equal(b.logs.filter(l => String(l.msg).startsWith('Redis connection back')).length, 1)
    await Promise.all([sub.endAsync(), pub.endAsync()])
  } finally {
    await Promise.all([a.stop(), b.stop()])
    await redis.stop()
  }
})

test('a client connecting while Redis is down waits for its CONNACK, gets it when Redis is back, and connected clients keep QoS 0 flowing', { skip }, async () => {
  const redis = await startRedis()
  const broker = await startBroker({ storage: 'redis', redisUrl: redis.url })
  try {
    const watcher = await connect(broker.mqttUrl, { reconnectPeriod: 0 })
    const live: string[] = []
    watcher.on('message', (_t, p) => live.push(p.toString()))
    await watcher.subscribeAsync('down/#', { qos: 0 })
    await redis.stop()
    await waitFor(async () => (await health(broker)).body.storage.state === 'degraded', 5000, 'degraded state')

    let connected = false
    const late = connect(broker.mqttUrl, { clientId: 'late-device', clean: false, connectTimeout: 30_000, reconnectPeriod: 0 })
      .then(client => { connected = true; return client })
    // already connected clients: QoS 0 is delivered locally meanwhile
    const sender = watcher
    sender.publish('down/local', 'while-down', { qos: 0 })
    await waitFor(() => live.includes('while-down'), 5000, 'a QoS 0 message while Redis is down')
    await sleep(1500)
    assert.equal(connected, false, 'no CONNACK for a persistent session while its state cannot be read')

    await redis.start()
    const client = await late
    await client.subscribeAsync('down/#', { qos: 1 })
    await client.publishAsync('down/after', 'back', { qos: 1 })
    await waitFor(() => live.includes('back'), 5000, 'traffic after Redis is back')
    await Promise.all([client.endAsync(), watcher.endAsync()])
  } finally {
    await broker.stop()
    await redis.stop()
  }
})

test('a Redis restart in the middle of a QoS 1 stream across two nodes loses no acknowledged message', { skip }, async () => {
  const redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always'])
  const a = await startBroker({ storage: 'redis', redisUrl: redis.url })
  const b = await startBroker({ storage: 'redis', redisUrl: redis.url })
  try {
    const sub = await connect(a.mqttUrl, { clientId: 'restart-sub', clean: false, reconnectPeriod: 200 })
    const got = new Set<string>()
    sub.on('message', (_t, p) => got.add(p.toString()))
    await sub.subscribeAsync('restart/#', { qos: 1 })
    const pub = await connect(b.mqttUrl)
    await publishUntilReceived(pub, collect(sub), 'restart/probe') // the subscription has reached node B
    const stream = publishStream(pub, 'restart/x', 3000, 20, 'r')
    await waitFor(() => got.size >= 500, 10_000, '500 messages before the restart')
    await redis.stop()
    await sleep(500)
    await redis.start()
    await stream.done
    const acked = stream.acked
    assert.equal(acked.size, 3000)
    await waitFor(() => [...acked].every(p => got.has(p)), 20_000, `all ${acked.size} acknowledged messages`)
    await Promise.all([sub.endAsync(), pub.endAsync()])
  } finally {
    await Promise.all([a.stop(), b.stop()])
    await redis.stop()
  }
})

test('fan-in across two nodes with a tiny pub/sub buffer limit and killed Redis connections: every acknowledged QoS 1 message arrives', { skip }, async () => {
  // The trap measured with plain Aedes + mqemitter-redis: Redis drops a pub/sub subscriber
  // over client-output-buffer-limit, and everything published meanwhile was lost.
  const redis = await startRedis(['--client-output-buffer-limit', 'pubsub 64kb 32kb 1'])
  const a = await startBroker({ storage: 'redis', redisUrl: redis.url })
  const b = await startBroker({ storage: 'redis', redisUrl: redis.url })
  const admin = new Redis(redis.url)
  try {
    const sub = await connect(a.mqttUrl, { clientId: 'fanin-sub' })
    const got = new Set<string>()
    sub.on('message', (_t, p) => got.add(p.toString()))
    await sub.subscribeAsync('fanin/+/data', { qos: 1 })
    const publishers = await Promise.all(Array.from({ length: 50 }, (_, i) => connect(b.mqttUrl, { clientId: `fanin-pub-${i}` })))
    await publishUntilReceived(publishers[0], collect(sub), 'fanin/probe/data') // the subscription has reached node B
    const payload = 'x'.repeat(200)
    const streams = publishers.map((p, i) => publishStream(p, `fanin/${i}/data`, 200, 5, `${i}-${payload}-`))
    // Cut node A's route reader twice while the stream runs.
    for (let cut = 0; cut < 2; cut++) {
      await sleep(300)
      const clients = await admin.client('LIST') as string
      for (const line of clients.split('\n').filter(l => l.includes('name=swallow-routes-reader'))) {
        await admin.client('KILL', 'ID', /id=(\d+)/.exec(line)?.[1] ?? '0')
      }
    }
    const acked = new Set<string>()
    await Promise.all(streams.map(s => s.done))
    for (const s of streams) for (const p of s.acked) acked.add(p)
    assert.equal(acked.size, 50 * 200)
    await waitFor(() => got.size >= acked.size, 30_000, `${acked.size} messages`)
    const missing = [...acked].filter(p => !got.has(p))
    assert.equal(missing.length, 0, `acknowledged but never delivered: ${missing.length}`)
    await Promise.all([sub.endAsync(), ...publishers.map(p => p.endAsync())])
  } finally {
    admin.disconnect()
    await Promise.all([a.stop(), b.stop()])
    await redis.stop()
  }
})

test('SIGTERM while Redis is down: the broker still exits, within --shutdown-timeout plus 5 s, with one line saying why', { skip }, async () => {
  const redis = await startRedis()
  const broker = await startBroker({ storage: 'redis', redisUrl: redis.url, args: ['--shutdown-timeout', '1s'] })
  try {
    await redis.stop()
    await waitFor(() => broker.logs.some(l => /Redis connection lost/.test(String(l.msg))), 10_000, 'the outage noticed')
    const started = Date.now()
    const code = await broker.stop()
    assert.ok(Date.now() - started < 9000, `exited after ${Date.now() - started} ms`)
    assert.equal(code, 1, 'storage could not be closed cleanly')
    assert.ok(broker.logs.some(l => /shutdown did not finish: storage unreachable/.test(String(l.msg))), 'the reason is logged')
  } finally {
    await broker.crash()
    await redis.stop()
  }
})
