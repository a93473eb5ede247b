// Delayed publish on Redis: records stored through one node are published by another when the
// storing node dies (SIGKILL); a claim is a lease, so exactly one node publishes a record, and
// another takes it over when the lease ends unreleased; records outlive a Redis restart
// (appendonly), and a delayed PUBLISH is not acknowledged while Redis is down.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker } from '../../helpers/broker.js'
import { connect, connectCollecting } from '../../helpers/mqtt.js'
import { needRedis, startRedis } from '../../helpers/redis.js'
import { waitFor } from '../../helpers/system.js'
import { RedisBackend } from '../../../plugins/delayed/redis-backend.js'
import { newId, type DelayedRecord } from '../../../plugins/delayed/record.js'
import { createLogger } from '../../../src/logger.js'
import { api, metric, waitMetric } from './delayed-helpers.js'

const skip = needRedis()

test('two nodes: node A stores 500 delayed messages and is killed (SIGKILL) before they are due; node B publishes each once', { skip }, async () => {
  const redis = await startRedis()
  const a = await startBroker({ storage: 'redis', redisUrl: redis.url, args: ['--sys-interval', 'off'] })
  const b = await startBroker({ storage: 'redis', redisUrl: redis.url, args: ['--sys-interval', 'off'] })
  try {
    const sub = await connect(b.mqttUrl, { clientId: 'cluster-sub', clean: false })
    await sub.subscribeAsync('k/#', { qos: 1 })
    await sub.endAsync()
    const pub = await connect(a.mqttUrl)
    const started = Date.now()
    await Promise.all(Array.from({ length: 500 }, async (_, i) => await pub.publishAsync(`$delayed/2/k/${i % 5}`, `m${i}`, { qos: 1 })))
    assert.ok(Date.now() - started < 2000, 'all stored before the first is due')
    assert.equal((await api(`${b.httpUrl}/api/delayed?limit=1`)).body.pending, 500, 'B sees what A stored')
    await a.crash()
    pub.end(true)
    await waitMetric(b.httpUrl, 'swallow_delayed_published_total', 500, 15_000)
    const { client: back, got } = await connectCollecting(b.mqttUrl, { clientId: 'cluster-sub', clean: false })
    await waitFor(() => got.length >= 500, 10_000, '500 messages')
    assert.equal(new Set(got.map(m => m.payload)).size, 500)
    assert.equal((await api(`${b.httpUrl}/api/delayed`)).body.pending, 0)
    // A sentinel through B after the releases: no second copy was on its way.
    await back.publishAsync('k/sentinel', 'end', { qos: 1 })
    await waitFor(() => got.some(m => m.payload === 'end'), 5000, 'the sentinel')
    assert.equal(got.length, 501, 'each once')
    await back.endAsync()
  } finally {
    await a.crash()
    await b.stop()
    await redis.stop()
  }
})

test('a claim is a lease: one of two nodes claiming at once gets a due record; the other takes it over once the lease ends without a removal', { skip }, async () => {
  const redis = await startRedis()
  const log = createLogger({ logLevel: 'silent', logFormat: 'json' })
  const one = new RedisBackend(redis.url, log, 300)
  const two = new RedisBackend(redis.url, log, 300)
  try {
    await one.open()
    await two.open()
    const now = Date.now()
    const record: DelayedRecord = { id: newId(now), topic: 't', payload: Buffer.from('x'), qos: 1, retain: false, dueAt: now, storedAt: now, clientId: 'c', username: null }
    assert.equal(await one.add(record, 10), true)
    const [a, b] = await Promise.all([one.claimDue(Date.now(), 10), two.claimDue(Date.now(), 10)])
    assert.equal(a.length + b.length, 1, 'exactly one claim gets it')
    const holder = a.length === 1 ? one : two
    const other = holder === one ? two : one
    assert.deepEqual(await other.claimDue(Date.now(), 10), [], 'leased')
    // The holder "dies" without removing it: the lease ends and the other node claims it.
    const taken = await waitFor(async () => { const r = await other.claimDue(Date.now(), 10); return r.length > 0 ? r : null }, 5000, 'the takeover')
    assert.equal(taken[0].id, record.id)
    assert.deepEqual(taken[0].payload, Buffer.from('x'))
    assert.equal(await other.remove(record.id), true)
    assert.equal(await holder.remove(record.id), false, 'removed once')
    assert.equal(await one.pending(), 0)
    // The pending limit is cluster-wide: counted in Redis.
    for (let i = 0; i < 2; i++) assert.equal(await one.add({ ...record, id: newId(now + 60_000 + i) }, 3), true)
    assert.equal(await two.add({ ...record, id: newId(now + 70_000) }, 3), true)
    assert.equal(await one.add({ ...record, id: newId(now + 80_000) }, 3), false)
  } finally {
    await one.close()
    await two.close()
    await redis.stop()
  }
})

test('Redis restarted (appendonly): a pending delayed message is published after it; one sent while Redis is down is acknowledged only once it is back', { skip }, async () => {
  const redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always'])
  const broker = await startBroker({ storage: 'redis', redisUrl: redis.url, args: ['--sys-interval', 'off'] })
  try {
    const { client: sub, got } = await connectCollecting(broker.mqttUrl, { clientId: 'outage-sub', clean: false, reconnectPeriod: 200 })
    await sub.subscribeAsync('o/#', { qos: 1 })
    const pub = await connect(broker.mqttUrl, { reconnectPeriod: 0 })
    await pub.publishAsync('$delayed/3/o/before', 'stored before', { qos: 1 })
    await redis.stop()
    await waitFor(() => broker.logs.some(l => String(l.msg).startsWith('delayed publish: Redis connection lost')), 5000, 'the outage line')
    let ackedAt = 0
    const during = pub.publishAsync('$delayed/1/o/during', 'sent during', { qos: 1 }).then(() => { ackedAt = Date.now() })
    const restartedAt = Date.now()
    await redis.start()
    await during
    assert.ok(ackedAt >= restartedAt, 'no PUBACK before Redis was back')
    await waitFor(() => got.length >= 2, 15_000, 'both messages')
    assert.deepEqual(got.map(m => m.payload).sort(), ['sent during', 'stored before'])
    assert.equal(await metric(broker.httpUrl, 'swallow_delayed_published_total'), 2)
    await Promise.all([sub.endAsync(), pub.endAsync()])
  } finally {
    await broker.stop()
    await redis.stop()
  }
})
