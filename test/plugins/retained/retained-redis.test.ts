// The Redis backend: a retained message set through one node is delivered by every node,
// and it survives a restart and a kill -9 of the broker. Uses a private redis-server.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { retainedFor } from './retained-helpers.js'
import { startBroker, type BrokerProcess } from '../../helpers/broker.js'
import { collect, connect, type Received } from '../../helpers/mqtt.js'
import { needRedis, startRedis } from '../../helpers/redis.js'
import { sleep, waitFor } from '../../helpers/system.js'
import type { IndexSink, RetainedMeta, WriteOp } from '../../../plugins/retained/backend.js'

const node = (redisUrl: string): Promise<BrokerProcess> =>
  startBroker({ args: ['--storage', 'redis', '--redis-url', redisUrl, '--sys-interval', 'off'] })

test('cluster: a retained message stored through one node is delivered by the other at once; clearing it clears it everywhere', { skip: needRedis() }, async () => {
  const redis = await startRedis()
  const [a, b] = await Promise.all([node(redis.url), node(redis.url)])
  try {
    const pubA = await connect(a.mqttUrl)
    for (let i = 0; i < 100; i++) await pubA.publishAsync(`fleet/d${i}/state`, `s${i}`, { qos: 1, retain: true })
    // PUBACK means stored in Redis and in this node's index; the other node learns within milliseconds.
    const onB = new Map((await retainedFor(b.mqttUrl, 'fleet/+/state', 300, false)).map(m => [m.topic, m.payload]))
    assert.equal(onB.size, 100)
    assert.equal(onB.get('fleet/d42/state'), 's42')

    const pubB = await connect(b.mqttUrl)
    await pubB.publishAsync('fleet/d42/state', '', { qos: 1, retain: true })
    await pubB.publishAsync('fleet/d43/state', 'from b', { qos: 1, retain: true })
    await pubB.endAsync()
    const onA = new Map((await retainedFor(a.mqttUrl, 'fleet/#', 300, false)).map(m => [m.topic, m.payload]))
    assert.equal(onA.size, 99)
    assert.equal(onA.has('fleet/d42/state'), false)
    assert.equal(onA.get('fleet/d43/state'), 'from b')

    // The admin API of either node sees the same store.
    const listed = await (await fetch(`${a.httpUrl}/api/retained?filter=fleet/%23&limit=1000`)).json() as { items: unknown[] }
    assert.equal(listed.items.length, 99)
    await pubA.endAsync()
  } finally {
    await Promise.all([a.stop(), b.stop()])
    await redis.stop()
  }
})

test('redis: retained messages survive a restart and a kill -9 of the broker', { skip: needRedis() }, async () => {
  const redis = await startRedis()
  let broker = await node(redis.url)
  try {
    const pub = await connect(broker.mqttUrl)
    for (let i = 0; i < 20; i++) await pub.publishAsync(`r/${i}`, `v${i}`, { qos: 1, retain: true })
    await pub.publishAsync('r/0', '', { qos: 1, retain: true })
    await pub.endAsync()
    await broker.stop()
    broker = await node(redis.url)
    assert.equal((await retainedFor(broker.mqttUrl, 'r/#', 300, false)).length, 19, 'after restart')
    const pub2 = await connect(broker.mqttUrl)
    await pub2.publishAsync('r/5', 'after', { qos: 1, retain: true })
    await broker.crash()
    pub2.end(true)
    broker = await node(redis.url)
    const got = new Map((await retainedFor(broker.mqttUrl, 'r/#', 300, false)).map(m => [m.topic, m.payload]))
    assert.equal(got.size, 19, 'after kill -9')
    assert.equal(got.get('r/5'), 'after')
  } finally {
    await broker.stop()
    await redis.stop()
  }
})

test('redis: a node that lost its Redis subscription catches up when it comes back', { skip: needRedis() }, async () => {
  const redis = await startRedis()
  const [a, b] = await Promise.all([node(redis.url), node(redis.url)])
  try {
    const pub = await connect(a.mqttUrl)
    await pub.publishAsync('x/1', 'one', { qos: 1, retain: true })
    // Kill only b's subscriber connection, as a network blip would.
    const { Redis } = await import('ioredis')
    const admin = new Redis(redis.url)
    const clients = String(await admin.client('LIST')).split('\n').filter(l => l.includes('name=swallow-retained-sub'))
    assert.equal(clients.length, 2)
    await admin.client('KILL', 'ID', /id=(\d+)/.exec(clients[1])![1])
    await pub.publishAsync('x/2', 'two', { qos: 1, retain: true })
    await pub.endAsync()
    await waitFor(async () => {
      const topics = (await retainedFor(b.mqttUrl, 'x/+', 300, false)).map(m => m.topic).sort()
      return topics.length === 2 && (await retainedFor(a.mqttUrl, 'x/+', 300, false)).length === 2
    }, 10_000, 'both nodes to have both messages')
    await admin.quit()
  } finally {
    await Promise.all([a.stop(), b.stop()])
    await redis.stop()
  }
})

test('redis: expiry in a cluster, every node sweeping; a message published again through another node stays', { skip: needRedis() }, async () => {
  const redis = await startRedis()
  const args = ['--storage', 'redis', '--redis-url', redis.url, '--sys-interval', 'off', '--retained-expiry', 'ttl/#=2s']
  const [a, b] = await Promise.all([startBroker({ args }), startBroker({ args })])
  try {
    const pubA = await connect(a.mqttUrl)
    const pubB = await connect(b.mqttUrl)
    const t0 = Date.now()
    await pubA.publishAsync('ttl/gone', 'x', { qos: 1, retain: true })
    await pubA.publishAsync('ttl/kept', 'v1', { qos: 1, retain: true })
    await sleep(1200)
    await pubB.publishAsync('ttl/kept', 'v2', { qos: 1, retain: true }) // lives until t0 + 3.2 s
    await sleep(Math.max(0, t0 + 2100 - Date.now()))
    for (const node of [a, b]) {
      assert.deepEqual((await retainedFor(node.mqttUrl, 'ttl/#', 300, false)).map(m => `${m.topic}=${m.payload}`), ['ttl/kept=v2'])
    }
    assert.ok(Date.now() - t0 < 3200, 'checked while ttl/kept=v2 was alive')
    const count = async (n: BrokerProcess): Promise<string | undefined> => /^swallow_retained_messages (\d+)/m.exec(await (await fetch(`${n.httpUrl}/metrics`)).text())?.[1]
    await waitFor(async () => await count(a) === '0' && await count(b) === '0', 5000, 'both nodes to sweep everything once expired')
    await pubA.endAsync()
    await pubB.endAsync()
  } finally {
    await Promise.all([a.stop(), b.stop()])
    await redis.stop()
  }
})

test('redis backend: an expiry delete from one node never removes a newer message stored through another', { skip: needRedis() }, async () => {
  const redis = await startRedis()
  const { RedisBackend } = await import('../../../plugins/retained/redis-backend.js')
  const { default: pino } = await import('pino')
  const index = (): { sink: IndexSink, topics: Map<string, RetainedMeta> } => {
    const topics = new Map<string, RetainedMeta>()
    return { topics, sink: { put: (t, m) => { topics.set(t, m) }, del: t => { topics.delete(t) }, get: t => topics.get(t), clear: () => topics.clear() } }
  }
  const [ia, ib] = [index(), index()]
  const a = new RedisBackend(redis.url, pino({ level: 'silent' }))
  const b = new RedisBackend(redis.url, pino({ level: 'silent' }))
  try {
    await a.open(ia.sink)
    await b.open(ib.sink)
    const put = (payload: string, storedAt: number): WriteOp => ({ type: 'put', topic: 't', meta: { qos: 1, storedAt, size: payload.length, seq: 0 }, payload: Buffer.from(payload) })
    await a.write([put('old', 1000)])
    await b.write([put('new', 2000)])
    await a.write([{ type: 'expire', topic: 't', storedAt: 1000 }]) // stale: the message is not the one that expired
    assert.deepEqual((await b.payloads(['t']))[0]?.toString(), 'new')
    await waitFor(() => ia.topics.get('t')?.storedAt === 2000, 2000, 'node a to see the new message')
    await b.write([{ type: 'expire', topic: 't', storedAt: 2000 }])
    assert.equal((await a.payloads(['t']))[0], undefined)
    await waitFor(() => !ia.topics.has('t') && !ib.topics.has('t'), 2000, 'both indexes to drop it')
  } finally {
    await a.close()
    await b.close()
    await redis.stop()
  }
})

test('redis: an outage is one error line per connection and one info line when Redis is back, not a line per retry', { skip: needRedis() }, async () => {
  const redis = await startRedis()
  const broker = await node(redis.url)
  try {
    const retainedLines = (): Array<Record<string, unknown>> => broker.logs.filter(l => l.plugin === 'retained' && /Redis connection/.test(String(l.msg)))
    await redis.stop()
    await waitFor(() => retainedLines().length >= 2, 10_000, 'the retained store noticing the outage')
    await sleep(2000) // the outage lasts: ioredis retries several times meanwhile
    await redis.start()
    await waitFor(() => retainedLines().filter(l => l.level === 30).length >= 2, 15_000, 'the retained store noticing Redis is back')
    await waitFor(() => broker.logs.some(l => /storage ok/.test(String(l.msg))), 15_000, 'the core storage back')
    const lines = retainedLines()
    assert.equal(lines.filter(l => l.level === 50).length, 2, `one error line per connection: ${JSON.stringify(lines)}`)
    assert.equal(lines.filter(l => l.level === 40).length, 0, 'no warning per retry')
  } finally {
    await broker.stop()
    await redis.stop()
  }
})
