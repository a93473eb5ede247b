// Delayed messages survive a kill -9 of the broker (embedded storage): stored before the
// PUBACK, published after the restart. A record is removed only after its release is stored,
// so one being released at the instant of the crash is published once more (at least once).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { newId } from '../../../plugins/delayed/record.js'
import { startBroker } from '../../helpers/broker.js'
import { connect, connectCollecting, type MqttClient, type Received } from '../../helpers/mqtt.js'
import { waitFor } from '../../helpers/system.js'
import { api, latenessQuantile, metric, waitMetric } from './delayed-helpers.js'

/** Publishes `count` QoS 1 messages `m<i>` to $delayed/<delay(i)>/r/<i mod 10>, `window` in flight; resolves when all are acknowledged. */
async function publishDelayed (pub: MqttClient, count: number, window: number, delay: (i: number) => number): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++
      await pub.publishAsync(`$delayed/${delay(i)}/r/${i % 10}`, `m${i}`, { qos: 1 })
    }
  }
  await Promise.all(Array.from({ length: window }, worker))
}

/** A persistent session subscribed to r/#, offline while the test runs (its queue takes the releases). */
async function offlineSubscriber (url: string, clientId: string): Promise<void> {
  const sub = await connect(url, { clientId, clean: false })
  await sub.subscribeAsync('r/#', { qos: 1 })
  await sub.endAsync()
}

function countBy (got: Received[]): Map<string, number> {
  const seen = new Map<string, number>()
  for (const m of got) seen.set(m.payload, (seen.get(m.payload) ?? 0) + 1)
  return seen
}

test('1,000 delayed messages (2-4 s) acknowledged before a kill -9 are each published once after the restart', async () => {
  const first = await startBroker({ args: ['--sys-interval', 'off'] })
  let second: Awaited<ReturnType<typeof startBroker>> | null = null
  try {
    await offlineSubscriber(first.mqttUrl, 'restart-sub')
    const pub = await connect(first.mqttUrl)
    const started = Date.now()
    await publishDelayed(pub, 1000, 50, i => 2 + (i % 3))
    // The precondition of "each once": none was due (being released) when the broker died.
    assert.equal(await metric(first.httpUrl, 'swallow_delayed_published_total'), 0, `publishing took ${Date.now() - started} ms: some were due before the crash`)
    await first.crash()
    pub.end(true)

    second = await startBroker({ dataDir: first.dataDir, args: ['--sys-interval', 'off'] })
    await waitMetric(second.httpUrl, 'swallow_delayed_published_total', 1000, 15_000)
    assert.equal((await api(`${second.httpUrl}/api/delayed`)).body.pending, 0)
    const { client: sub, got } = await connectCollecting(second.mqttUrl, { clientId: 'restart-sub', clean: false })
    await waitFor(() => got.length >= 1000, 15_000, '1000 messages')
    const seen = countBy(got)
    assert.equal(seen.size, 1000)
    assert.deepEqual([...seen.values()].filter(n => n > 1), [], 'none twice')
    await sub.endAsync()
  } finally {
    await first.crash()
    await second?.stop()
  }
})

test('10,000 delayed messages (1-10 s), kill -9 while they are being released: every one published after the restart, again only if it was being released at the crash', async () => {
  const first = await startBroker({ args: ['--sys-interval', 'off'] })
  let second: Awaited<ReturnType<typeof startBroker>> | null = null
  try {
    await offlineSubscriber(first.mqttUrl, 'restart-10k')
    const pub = await connect(first.mqttUrl)
    const started = Date.now()
    await publishDelayed(pub, 10_000, 100, i => 1 + (i % 10))
    const publishMs = Date.now() - started
    // Crash in the middle of the releases.
    await waitFor(async () => await metric(first.httpUrl, 'swallow_delayed_published_total') >= 2000, 10_000, '2000 released')
    const p50 = await latenessQuantile(first.httpUrl, 0.5)
    const p99 = await latenessQuantile(first.httpUrl, 0.99)
    await first.crash()
    pub.end(true)

    second = await startBroker({ dataDir: first.dataDir, args: ['--sys-interval', 'off'] })
    await waitFor(async () => (await api(`${second!.httpUrl}/api/delayed`)).body.pending === 0, 20_000, 'no delayed message pending')
    const again = await metric(second.httpUrl, 'swallow_delayed_published_total')
    const { client: sub, got } = await connectCollecting(second.mqttUrl, { clientId: 'restart-10k', clean: false })
    await waitFor(() => countBy(got).size === 10_000, 20_000, '10,000 distinct messages')
    const twice = [...countBy(got).values()].filter(n => n > 1).length
    // At most the releases in flight at the crash (64 topics' worth in parallel; 10 topics here).
    assert.ok(twice <= 64, `${twice} published twice`)
    console.log(`# 10k: published in ${publishMs} ms; after the restart ${again} released; ${twice} published twice; total ${Date.now() - started} ms; lateness before the crash p50 <= ${p50 * 1000} ms, p99 <= ${p99 * 1000} ms`)
    await sub.endAsync()
  } finally {
    await first.crash()
    await second?.stop()
  }
})

test('a graceful restart (SIGTERM) keeps the pending delayed messages; one overdue at the start meets the retained store and the log bridge', async () => {
  const args = ['--sys-interval', 'off', '--bridge-rule', 'g/#=gstream:durable']
  const first = await startBroker({ args })
  let second: Awaited<ReturnType<typeof startBroker>> | null = null
  try {
    // A persistent subscriber: g/later may be due before the restarted broker has a live one.
    const early = await connect(first.mqttUrl, { clientId: 'overdue-sub', clean: false })
    await early.subscribeAsync('g/#', { qos: 1 })
    await early.endAsync()
    const pub = await connect(first.mqttUrl)
    await pub.publishAsync('$delayed/1/g/overdue', 'retained, overdue', { qos: 1, retain: true })
    await pub.publishAsync('$delayed/4/g/later', 'across a restart', { qos: 1 })
    await pub.endAsync()
    const overdueAt = Date.now() + 1000
    assert.equal(await first.stop(), 0)
    await waitFor(() => Date.now() > overdueAt, 5000, 'the first one is overdue')
    second = await startBroker({ dataDir: first.dataDir, args })
    const { client: sub, got } = await connectCollecting(second.mqttUrl, { clientId: 'overdue-sub', clean: false })
    await waitFor(() => got.some(m => m.topic === 'g/later'), 10_000, 'the later message')
    assert.deepEqual(got.find(m => m.topic === 'g/later'), { topic: 'g/later', payload: 'across a restart', qos: 1, retain: false })
    const retained = await api(`${second.httpUrl}/api/retained/one?topic=g/overdue`)
    assert.equal(retained.body.payloadText, 'retained, overdue')
    const records = await (await fetch(`${second.httpUrl}/api/streams/gstream/records?from=earliest`)).text()
    assert.deepEqual(records.trim().split('\n').map(l => JSON.parse(l).topic), ['g/overdue', 'g/later'])
    await sub.endAsync()
  } finally {
    await second?.stop()
  }
})

test('a stored record that cannot be read is deleted with one error line; the others are published', async () => {
  const first = await startBroker({ args: ['--sys-interval', 'off'] })
  let second: Awaited<ReturnType<typeof startBroker>> | null = null
  try {
    // A persistent subscriber: the record may be due before the restarted broker has a live one.
    const early = await connect(first.mqttUrl, { clientId: 'unreadable-sub', clean: false })
    await early.subscribeAsync('u/#', { qos: 1 })
    await early.endAsync()
    const pub = await connect(first.mqttUrl)
    await pub.publishAsync('$delayed/2/u/x', 'readable', { qos: 1 })
    await pub.endAsync()
    await first.crash()
    const db = new ClassicLevel<string, Buffer>(join(first.dataDir, 'delayed'), { valueEncoding: 'buffer' })
    await db.put('r' + newId(Date.now()), Buffer.from('not a record'))
    await db.close()
    second = await startBroker({ dataDir: first.dataDir, args: ['--sys-interval', 'off'] })
    const { client: sub, got } = await connectCollecting(second.mqttUrl, { clientId: 'unreadable-sub', clean: false })
    await waitFor(() => got.length === 1, 10_000, 'the readable message')
    assert.equal(got[0].payload, 'readable')
    const lines = second.logs.filter(l => String(l.msg).includes('cannot be read is deleted'))
    assert.equal(lines.length, 1)
    assert.equal((await api(`${second.httpUrl}/api/delayed`)).body.pending, 0)
    await sub.endAsync()
  } finally {
    await second?.stop()
  }
})
