// The embedded retained store, through a real broker: durability across restart and
// kill -9, clearing by empty payload, the $ rule, and the count in $SYS and /metrics.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { retainedFor } from './retained-helpers.js'
import { startBroker } from '../../helpers/broker.js'
import { collect, connect, type MqttClient, type Received } from '../../helpers/mqtt.js'
import { sleep, tempDir, waitFor } from '../../helpers/system.js'

test('retained messages survive a restart and a kill -9; an empty payload clears the topic', async () => {
  const dir = tempDir()
  try {
    let broker = await startBroker({ dataDir: dir.path })
    const pub = await connect(broker.mqttUrl)
    for (let i = 0; i < 50; i++) await pub.publishAsync(`dev/${i}/status`, `v1-${i}`, { qos: 1, retain: true })
    for (let i = 0; i < 50; i += 2) await pub.publishAsync(`dev/${i}/status`, `v2-${i}`, { qos: 2, retain: true })
    for (let i = 0; i < 10; i++) await pub.publishAsync(`dev/${i}/status`, '', { qos: 1, retain: true })
    await pub.endAsync()
    const expected = new Map<string, string>()
    for (let i = 10; i < 50; i++) expected.set(`dev/${i}/status`, i % 2 === 0 ? `v2-${i}` : `v1-${i}`)

    await broker.stop()
    broker = await startBroker({ dataDir: dir.path })
    let got = await retainedFor(broker.mqttUrl, 'dev/+/status')
    assert.deepEqual(new Map(got.map(m => [m.topic, m.payload])), expected, 'after a clean restart')
    assert.equal(got.length, 40)
    assert.ok(got.every(m => m.retain))

    await broker.crash()
    broker = await startBroker({ dataDir: dir.path })
    got = await retainedFor(broker.mqttUrl, '#')
    assert.deepEqual(new Map(got.filter(m => m.topic.startsWith('dev/')).map(m => [m.topic, m.payload])), expected, 'after kill -9')
    await broker.stop()
  } finally {
    dir.remove()
  }
})

test('kill -9 during a QoS 1 retained stream: every retained value the publisher got a PUBACK for is there after restart', async () => {
  const dir = tempDir()
  try {
    let broker = await startBroker({ dataDir: dir.path })
    const pub = await connect(broker.mqttUrl)
    const acked = new Map<string, number>()
    let stop = false
    const publishing = (async () => {
      for (let i = 0; !stop; i++) {
        const topic = `plant/m${i % 40}`
        try {
          await pub.publishAsync(topic, String(i), { qos: 1, retain: true })
          acked.set(topic, i)
        } catch {
          return
        }
      }
    })()
    await waitFor(() => acked.size === 40 && [...acked.values()].some(v => v > 400), 10_000, 'some acknowledged publishes')
    await broker.crash()
    stop = true
    // The publish in flight at the crash never settles (no reconnect): do not wait for it.
    void publishing
    pub.end(true)

    broker = await startBroker({ dataDir: dir.path })
    const got = new Map((await retainedFor(broker.mqttUrl, 'plant/#')).map(m => [m.topic, Number(m.payload)]))
    for (const [topic, value] of acked) {
      // The stored value is the acknowledged one or a later one (stored, crash before its PUBACK left).
      assert.ok((got.get(topic) ?? -1) >= value, `${topic}: acked ${value}, stored ${got.get(topic)}`)
    }
    await broker.stop()
  } finally {
    dir.remove()
  }
})

test('$ topics are not sent for # or +/... subscriptions, only for filters that name them', async () => {
  const broker = await startBroker({ args: ['--sys-interval', 'off'] })
  try {
    const pub = await connect(broker.mqttUrl)
    await pub.publishAsync('$app/config', 'c', { qos: 1, retain: true })
    await pub.publishAsync('$app/x/y', 'xy', { qos: 1, retain: true })
    await pub.publishAsync('app/config', 'a', { qos: 1, retain: true })
    await pub.publishAsync('/lead/empty', 'e', { qos: 1, retain: true })
    await pub.endAsync()
    assert.deepEqual((await retainedFor(broker.mqttUrl, '#')).map(m => m.topic).sort(), ['/lead/empty', 'app/config'])
    assert.deepEqual((await retainedFor(broker.mqttUrl, '+/config')).map(m => m.topic), ['app/config'])
    assert.deepEqual((await retainedFor(broker.mqttUrl, '+/+/empty')).map(m => m.topic), ['/lead/empty'])
    assert.deepEqual((await retainedFor(broker.mqttUrl, '$app/#')).map(m => m.topic).sort(), ['$app/config', '$app/x/y'])
    assert.deepEqual((await retainedFor(broker.mqttUrl, '$app/+')).map(m => m.topic), ['$app/config'])
    // Overlapping filters in one SUBSCRIBE: each retained message once.
    assert.deepEqual((await retainedFor(broker.mqttUrl, ['app/#', '+/config', 'app/config'])).map(m => m.topic), ['app/config'])
  } finally {
    await broker.stop()
  }
})

test('the retained count and bytes are in /metrics and $SYS/broker/retained messages/count', async () => {
  const broker = await startBroker({ args: ['--sys-interval', '200ms'] })
  let sub: MqttClient | null = null
  try {
    const pub = await connect(broker.mqttUrl)
    for (let i = 0; i < 5; i++) await pub.publishAsync(`m/${i}`, 'abcd', { qos: 1, retain: true })
    await pub.endAsync()
    const metrics = await (await fetch(`${broker.httpUrl}/metrics`)).text()
    const count = Number(/^swallow_retained_messages (\d+)/m.exec(metrics)?.[1])
    assert.ok(count >= 5, metrics)
    assert.ok(Number(/^swallow_retained_bytes (\d+)/m.exec(metrics)?.[1]) >= 20)
    sub = await connect(broker.mqttUrl)
    const got = collect(sub)
    await sub.subscribeAsync('$SYS/broker/retained messages/count', { qos: 0 })
    await waitFor(() => got.length > 0, 3000, '$SYS retained count')
    assert.ok(Number(got[got.length - 1].payload) >= 5)
  } finally {
    await sub?.endAsync()
    await broker.stop()
  }
})

test('upgrading: retained messages kept in the session storage by an older Swallow are copied into the store once', async () => {
  const dir = tempDir()
  try {
    // What a broker without this plugin left behind: retained messages in the sessions LevelDB.
    const { ClassicLevel } = await import('classic-level')
    const { default: LevelPersistence } = await import('aedes-persistence-level/asyncPersistence.js')
    const db = new ClassicLevel<string, Buffer>(`${dir.path}/sessions`, { valueEncoding: 'buffer' })
    await db.open()
    const legacy = new LevelPersistence(db) as unknown as { storeRetained: (packet: object) => Promise<void> }
    await legacy.storeRetained({ cmd: 'publish', topic: 'old/a', payload: Buffer.from('A'), qos: 1, retain: true, dup: false })
    await legacy.storeRetained({ cmd: 'publish', topic: 'old/b', payload: Buffer.from('B'), qos: 0, retain: true, dup: false })
    await db.close()

    let broker = await startBroker({ dataDir: dir.path, args: ['--sys-interval', 'off'] })
    assert.deepEqual((await retainedFor(broker.mqttUrl, 'old/#')).map(m => `${m.topic}=${m.payload}/${m.qos}`).sort(), ['old/a=A/1', 'old/b=B/0'])
    // Once: a message cleared after the upgrade stays cleared on the next start.
    const pub = await connect(broker.mqttUrl)
    await pub.publishAsync('old/a', '', { qos: 1, retain: true })
    await pub.endAsync()
    await broker.stop()
    broker = await startBroker({ dataDir: dir.path, args: ['--sys-interval', 'off'] })
    assert.deepEqual((await retainedFor(broker.mqttUrl, 'old/#')).map(m => m.topic), ['old/b'])
    await broker.stop()
  } finally {
    dir.remove()
  }
})
