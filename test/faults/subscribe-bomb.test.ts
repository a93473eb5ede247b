// One SUBSCRIBE with thousands of filters costs what its filters cost, once (issue #20,
// critical 2). Aedes 1.2 stored a persistent session's whole filter list once per filter:
// 1,000 filters took 32 s and 2.7 GB while no other client could connect. The bounds below
// are loose on purpose (a loaded CI machine passes them); the quadratic cost fails them by
// orders of magnitude (500 filters already took 5.7 s and 770 MB).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import mqttPacket from 'mqtt-packet'
import { startBroker, type BrokerProcess, type BrokerOptions } from '../helpers/broker.js'
import { connect, connectCollecting } from '../helpers/mqtt.js'
import { rawSession, type RawSession } from '../helpers/raw.js'
import { needRedis, startRedis } from '../helpers/redis.js'
import { tempDir, waitFor } from '../helpers/system.js'

const FILTERS = 5000

function rssMiB (broker: BrokerProcess): number {
  const status = readFileSync(`/proc/${broker.proc.pid as number}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024
}

async function metric (broker: BrokerProcess, line: string): Promise<number> {
  const text = await (await fetch(`${broker.httpUrl}/metrics`)).text()
  const found = text.split('\n').find(l => l.startsWith(line + ' '))
  return found ? Number(found.slice(line.length + 1)) : 0
}

/** Subscribes one persistent session to s/0 ... s/4999 in one packet; returns the SUBACK's granted list and the time. */
async function subscribeMany (broker: BrokerProcess, clientId: string): Promise<{ granted: number[], ms: number, rssGrowthMiB: number }> {
  const session = await rawSession(broker.mqttPort, clientId, false)
  const before = rssMiB(broker)
  const started = Date.now()
  session.socket.write(mqttPacket.generate({
    cmd: 'subscribe', messageId: 7, subscriptions: Array.from({ length: FILTERS }, (_, i) => ({ topic: `s/${i}`, qos: 1 as const }))
  }))
  const suback = await waitFor(() => session.received.find(p => p.cmd === 'suback'), 60_000, 'SUBACK')
  const result = { granted: (suback as mqttPacket.ISubackPacket).granted as number[], ms: Date.now() - started, rssGrowthMiB: rssMiB(broker) - before }
  session.socket.destroy()
  return result
}

async function manyFiltersStoredOnce (opts: BrokerOptions): Promise<void> {
  const broker = await startBroker({ ...opts, args: ['--max-subscriptions-per-client', String(FILTERS)] })
  try {
    const { granted, ms, rssGrowthMiB } = await subscribeMany(broker, 'many-filters')
    assert.equal(granted.length, FILTERS)
    assert.ok(granted.every(g => g === 1), 'every filter granted at QoS 1')
    assert.ok(ms < 15_000, `SUBACK for ${FILTERS} filters took ${ms} ms`)
    assert.ok(rssGrowthMiB < 400, `the broker grew by ${rssGrowthMiB.toFixed(0)} MiB`)
    // Meanwhile-and-after: other clients connect, and the stored session gets its messages.
    const pub = await connect(broker.mqttUrl, { clientId: 'many-filters-pub' })
    await pub.publishAsync(`s/${FILTERS - 1}`, 'last filter', { qos: 1 })
    const { client: again, got } = await connectCollecting(broker.mqttUrl, { clientId: 'many-filters', clean: false })
    await waitFor(() => got.length === 1, 10_000, 'the message queued for the last filter')
    assert.deepEqual(got.map(m => m.payload), ['last filter'])
    await again.endAsync()
    await pub.endAsync()
  } finally {
    await broker.stop()
  }
}

for (const storage of ['embedded', 'memory'] as const) {
  test(`a persistent session's SUBSCRIBE with ${FILTERS} filters is stored once: SUBACK in seconds, tens of MB (${storage} storage)`, async () => {
    await manyFiltersStoredOnce({ storage })
  })
}

test(`a persistent session's SUBSCRIBE with ${FILTERS} filters is stored once: SUBACK in seconds, tens of MB (redis storage)`, { skip: needRedis() }, async () => {
  const redis = await startRedis()
  try {
    await manyFiltersStoredOnce({ storage: 'redis', redisUrl: redis.url })
  } finally {
    await redis.stop()
  }
})

/** Sends one SUBSCRIBE on a raw session and resolves its SUBACK's granted list (MQTT.js rejects a SUBACK with 0x80 in it). */
async function subscribeRaw (session: RawSession, messageId: number, topics: string[], qos: 0 | 1): Promise<number[]> {
  session.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId, subscriptions: topics.map(topic => ({ topic, qos })) }))
  const suback = await waitFor(() => session.received.find(p => p.cmd === 'suback' && p.messageId === messageId), 5000, 'SUBACK')
  return (suback as mqttPacket.ISubackPacket).granted as number[]
}

test('--max-subscriptions-per-client: filters beyond it get SUBACK 0x80 and are counted; held ones are granted again, and an unsubscribe frees a place', async () => {
  const dir = tempDir()
  let broker = await startBroker({ dataDir: dir.path, args: ['--max-subscriptions-per-client', '3'] })
  try {
    const client = await rawSession(broker.mqttPort, 'capped', false)
    assert.deepEqual(await subscribeRaw(client, 1, ['c/1', 'c/2', 'c/3', 'c/4', 'c/5'], 1), [1, 1, 1, 128, 128])
    assert.equal(await metric(broker, 'swallow_subscriptions_refused_total{reason="max_subscriptions"}'), 2)
    assert.deepEqual(await subscribeRaw(client, 2, ['c/1', 'c/6'], 0), [0, 128], 'a held filter is granted again (with its new QoS), a new one is not')
    client.socket.write(mqttPacket.generate({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['c/2'] }))
    await waitFor(() => client.received.some(p => p.cmd === 'unsuback'), 5000, 'UNSUBACK')
    assert.deepEqual(await subscribeRaw(client, 4, ['c/6'], 1), [1], 'the unsubscribed filter freed a place')
    assert.equal(broker.logs.filter(l => typeof l.msg === 'string' && l.msg.startsWith('subscription refused')).length, 1, 'logged once per connection')
    client.socket.end(mqttPacket.generate({ cmd: 'disconnect' }))
    // A restart restores the three held filters (not the refused ones), and the limit still holds.
    await broker.stop()
    broker = await startBroker({ dataDir: dir.path, args: ['--max-subscriptions-per-client', '3'] })
    const back = await rawSession(broker.mqttPort, 'capped', false)
    assert.deepEqual(await subscribeRaw(back, 5, ['c/7'], 1), [128], 'the restored session still holds three filters')
    back.socket.destroy()
    const { client: sub, got } = await connectCollecting(broker.mqttUrl, { clientId: 'capped', clean: false })
    const pub = await connect(broker.mqttUrl)
    for (const topic of ['c/1', 'c/2', 'c/3', 'c/4', 'c/5', 'c/6', 'c/7']) await pub.publishAsync(topic, topic, { qos: 1 })
    await pub.publishAsync('c/6', 'sentinel', { qos: 1 })
    await waitFor(() => got.some(m => m.payload === 'sentinel'), 5000, 'the sentinel on c/6')
    assert.deepEqual(got.map(m => m.payload), ['c/1', 'c/3', 'c/6', 'sentinel'], 'only the held filters were restored')
    await pub.endAsync()
    await sub.endAsync()
  } finally {
    await broker.stop()
    dir.remove()
  }
})
