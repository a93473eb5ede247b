// Embedded storage: what survives a restart and a kill -9.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker } from '../helpers/broker.js'
import { collect, connect, connectCollecting, publishStream, sentinel } from '../helpers/mqtt.js'
import { tempDir, waitFor } from '../helpers/system.js'

test('a persistent session gets QoS 1/2 messages queued while it was offline, across a broker restart', async () => {
  const dir = tempDir()
  try {
    let broker = await startBroker({ dataDir: dir.path })
    const device = await connect(broker.mqttUrl, { clientId: 'backend-1', clean: false })
    await device.subscribeAsync('plant/#', { qos: 2 })
    await device.endAsync()

    const pub = await connect(broker.mqttUrl)
    for (let i = 0; i < 20; i++) await pub.publishAsync(`plant/line${i % 3}`, `q1-${i}`, { qos: 1 })
    for (let i = 0; i < 5; i++) await pub.publishAsync('plant/alarm', `q2-${i}`, { qos: 2 })
    await pub.endAsync()

    assert.equal(await broker.stop(), 0)
    broker = await startBroker({ dataDir: dir.path })
    const { client: back, got } = await connectCollecting(broker.mqttUrl, { clientId: 'backend-1', clean: false })
    await waitFor(() => got.length >= 25, 5000, '25 queued messages')
    const live = await connect(broker.mqttUrl)
    await sentinel(live, got, 'plant/sentinel', 2) // a duplicate of a queued message would come before it
    await live.endAsync()
    assert.deepEqual(got.filter(m => m.topic !== 'plant/alarm').map(m => m.payload), Array.from({ length: 20 }, (_, i) => `q1-${i}`))
    assert.deepEqual(got.filter(m => m.topic === 'plant/alarm').map(m => m.payload), Array.from({ length: 5 }, (_, i) => `q2-${i}`))
    assert.equal(got.length, 25, 'each exactly once')
    await back.endAsync()
    await broker.stop()
  } finally {
    dir.remove()
  }
})

test('a retained message survives a restart', async () => {
  const dir = tempDir()
  try {
    let broker = await startBroker({ dataDir: dir.path })
    const pub = await connect(broker.mqttUrl)
    await pub.publishAsync('devices/d1/status', 'online', { qos: 1, retain: true })
    await pub.endAsync()
    await broker.stop()
    broker = await startBroker({ dataDir: dir.path })
    const sub = await connect(broker.mqttUrl)
    const got = collect(sub)
    await sub.subscribeAsync('devices/+/status', { qos: 1 })
    await waitFor(() => got.length === 1, 3000, 'the retained message')
    assert.deepEqual(got[0], { topic: 'devices/d1/status', payload: 'online', qos: 1, retain: true })
    await sub.endAsync()
    await broker.stop()
  } finally {
    dir.remove()
  }
})

test('kill -9 during a QoS 1 stream: every message whose PUBACK the publisher got reaches the offline persistent session', async () => {
  const dir = tempDir()
  try {
    let broker = await startBroker({ dataDir: dir.path })
    const backend = await connect(broker.mqttUrl, { clientId: 'crash-backend', clean: false })
    await backend.subscribeAsync('stream/#', { qos: 1 })
    await backend.endAsync()

    // 50 publishes in flight at any time, so the crash lands in the middle of many of them.
    const pub = await connect(broker.mqttUrl, { clientId: 'crash-publisher' })
    pub.on('error', () => {})
    const { acked, done } = publishStream(pub, 'stream/x', 100_000, 50)
    // Let a few hundred messages through, then pull the plug with messages in flight.
    await waitFor(() => acked.size >= 2000, 20_000, '2000 acknowledged messages')
    await broker.crash()
    pub.end(true)
    await done
    assert.ok(acked.size >= 2000)

    broker = await startBroker({ dataDir: dir.path })
    const { client: back, got } = await connectCollecting(broker.mqttUrl, { clientId: 'crash-backend', clean: false })
    await waitFor(() => got.length >= acked.size, 15_000, `${acked.size} acknowledged messages after the crash`)
    const received = new Set(got.map(m => m.payload))
    const missing = [...acked].filter(p => !received.has(p))
    assert.deepEqual(missing, [], `acknowledged but lost: ${missing.length} of ${acked.size}`)
    await back.endAsync()
    await broker.stop()
  } finally {
    dir.remove()
  }
})

test('memory storage starts empty after a restart', async () => {
  const dir = tempDir()
  try {
    let broker = await startBroker({ dataDir: dir.path, storage: 'memory' })
    const pub = await connect(broker.mqttUrl)
    await pub.publishAsync('mem/x', 'gone', { qos: 1, retain: true })
    await pub.endAsync()
    await broker.stop()
    broker = await startBroker({ dataDir: dir.path, storage: 'memory' })
    const sub = await connect(broker.mqttUrl)
    const got = collect(sub)
    await sub.subscribeAsync('mem/#', { qos: 1 })
    // Read from the store (the retained API): the subscriber could only prove it by waiting.
    const stored = await (await fetch(`${broker.httpUrl}/api/retained?filter=mem/%23`)).json() as { items: unknown[] }
    assert.deepEqual(stored.items, [])
    assert.equal(got.length, 0)
    await sub.endAsync()
    await broker.stop()
  } finally {
    dir.remove()
  }
})
