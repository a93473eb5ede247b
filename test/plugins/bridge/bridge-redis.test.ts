// The Redis Streams store: round trip through --storage redis (records readable with XRANGE,
// field layout and ids as documented), and a durable rule while Redis is down.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { runCli, startBroker } from '../../helpers/broker.js'
import { connect } from '../../helpers/mqtt.js'
import { needRedis, startRedis } from '../../helpers/redis.js'
import { sleep } from '../../helpers/system.js'

test('with --storage redis a rule writes a Redis stream: ids 1-<offset>, documented fields', { skip: needRedis() }, async () => {
  const redis = await startRedis()
  const broker = await startBroker({ storage: 'redis', redisUrl: redis.url, args: ['--bridge-rule', 'sensors/#=telemetry:durable', '--sys-interval', 'off'] })
  const r = new Redis(redis.url)
  try {
    const client = await connect(broker.mqttUrl, { clientId: 'dev-r', username: 'bob' })
    await client.publishAsync('sensors/a', 'one', { qos: 1 })
    await client.publishAsync('sensors/b', Buffer.from([0xff, 2, 3]), { qos: 1, retain: true })
    await client.endAsync()
    const entries = await r.xrangeBuffer('swallow:log:telemetry', '-', '+')
    assert.deepEqual(entries.map(([id]) => id.toString()), ['1-0', '1-1'])
    const fields = Object.fromEntries(entries[1][1].map((v, i, a) => i % 2 === 0 ? [v.toString(), a[i + 1]] : null).filter(Boolean) as Array<[string, Buffer]>)
    assert.deepEqual(Object.keys(fields).sort(), ['clientId', 'payload', 'qos', 'retain', 'time', 'topic', 'username'])
    assert.deepEqual([...fields.payload], [0xff, 2, 3])
    assert.equal(fields.topic.toString(), 'sensors/b')
    assert.equal(fields.retain.toString(), '1')
    assert.equal(fields.clientId.toString(), 'dev-r')
    assert.equal(await r.get('swallow:log:telemetry:seq'), '2')

    const out = await runCli(['log', 'tail', 'telemetry', '--url', broker.httpUrl, '--format', 'text'])
    assert.match(out.stdout, /^0 \S+ sensors\/a one\n1 \S+ sensors\/b <3 bytes binary>\n$/)
    const res = await fetch(`${broker.httpUrl}/api/streams/telemetry/groups/etl`, { method: 'POST', body: '{"offset":1}' })
    assert.equal(res.status, 200)
    // The stream's groups (the Redis hash swallow:log:telemetry:groups), with their lag.
    const listed = await (await fetch(`${broker.httpUrl}/api/streams/telemetry/groups`)).json() as { nextOffset: number, groups: Array<{ group: string, offset: number, lag: number }> }
    assert.deepEqual([listed.nextOffset, listed.groups.map(g => [g.group, g.offset, g.lag])], [2, [['etl', 1, 1]]])
    const again = await runCli(['log', 'tail', 'telemetry', '--url', broker.httpUrl, '--group', 'etl', '--format', 'text'])
    assert.match(again.stdout, /^1 \S+ sensors\/b/)
  } finally {
    r.disconnect()
    await broker.stop()
    await redis.stop()
  }
})

test('Redis down with a durable rule: no PUBACK until Redis is back, then everything lands in order', { skip: needRedis() }, async () => {
  // appendonly: the records written before the outage survive the Redis restart.
  const redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always'])
  const broker = await startBroker({ args: ['--bridge-rule', 'sensors/#=telemetry:durable:redis', '--redis-url', redis.url, '--sys-interval', 'off'] })
  const r = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: null })
  try {
    const client = await connect(broker.mqttUrl, { clientId: 'dev-down' })
    await client.publishAsync('sensors/x', 'before', { qos: 1 })
    await redis.stop()
    const acked: string[] = []
    const pending = ['d0', 'd1', 'd2', 'd3', 'd4'].map(p => client.publishAsync('sensors/x', p, { qos: 1 }).then(() => { acked.push(p) }))
    await sleep(1500)
    assert.deepEqual(acked, [], 'nothing is acknowledged while Redis is down')
    await redis.start()
    await Promise.race([Promise.all(pending), sleep(15_000).then(() => { throw new Error(`only ${acked.length} of 5 acknowledged after Redis came back`) })])
    assert.deepEqual(acked, ['d0', 'd1', 'd2', 'd3', 'd4'])
    await client.endAsync()
    await r.connect()
    const entries = await r.xrange('swallow:log:telemetry', '-', '+')
    assert.deepEqual(entries.map(([, f]) => f[f.indexOf('payload') + 1]), ['before', 'd0', 'd1', 'd2', 'd3', 'd4'])
    assert.deepEqual(entries.map(([id]) => id), ['1-0', '1-1', '1-2', '1-3', '1-4', '1-5'])
  } finally {
    r.disconnect()
    await broker.stop()
    await redis.stop()
  }
})
