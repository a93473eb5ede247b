// A QoS 1 message queued for two persistent sessions is delivered once to each, and leaves
// each queue when that session acknowledges it, also across a broker crash. Found in the
// fleet work: with Redis storage one stored record serves every session that queued the
// message, and the first delivery wrote its packet id into it, so the second session got
// it as a retransmission of the first one's packet id, its acknowledgement cleared nothing,
// and it came again on every reconnect (and, after a restart, so did every message that was
// in flight: the persistence finds records to clear by an in-memory map).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqttPacket from 'mqtt-packet'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { connect, connectCollecting, sentinel, type MqttClient, type Received } from '../helpers/mqtt.js'
import { rawSession } from '../helpers/raw.js'
import { needRedis, startRedis } from '../helpers/redis.js'
import { waitFor } from '../helpers/system.js'

type Storage = 'embedded' | 'memory' | 'redis'

/** Connects a persistent session collecting what it gets (its queue arrives right after CONNACK). */
async function resume (broker: BrokerProcess, clientId: string): Promise<{ client: MqttClient, got: Received[] }> {
  return await connectCollecting(broker.mqttUrl, { clientId, clean: false })
}

/** After `client` got what it was going to get, nothing else: a sentinel arrives alone. */
async function onlySentinelNext (broker: BrokerProcess, clientId: string): Promise<void> {
  const { client, got } = await resume(broker, clientId)
  const pub = await connect(broker.mqttUrl, { clientId: `${clientId}-pub` })
  await sentinel(pub, got, 'two/t')
  assert.deepEqual(got.map(m => m.payload), [], `${clientId} got nothing again`)
  await Promise.all([pub.endAsync(), client.endAsync()])
}

async function queuedForTwo (broker: BrokerProcess): Promise<void> {
  const a = await resume(broker, 'two-a')
  await a.client.subscribeAsync('two/t', { qos: 1 })
  const b = await resume(broker, 'two-b')
  await b.client.subscribeAsync('two/t', { qos: 1 })
  await b.client.endAsync()
  const pub = await connect(broker.mqttUrl, { clientId: 'two-pub' })
  await pub.publishAsync('two/t', 'one', { qos: 1 })
  await waitFor(() => a.got.length === 1, 5000, 'A got it')
  await pub.endAsync()
  const again = await resume(broker, 'two-b')
  await waitFor(() => again.got.length === 1, 5000, 'B got it when it came back')
  assert.equal(again.got[0].payload, 'one')
  await again.client.endAsync() // MQTT.js acknowledged it
  await onlySentinelNext(broker, 'two-b')
  await a.client.endAsync()
  await onlySentinelNext(broker, 'two-a')
}

/** A message in flight at a crash is sent again after the restart, once: its acknowledgement then clears it. */
async function inFlightAtCrash (storage: Storage, redisUrl?: string): Promise<void> {
  let broker = await startBroker({ storage, redisUrl })
  const dataDir = broker.dataDir
  try {
    const raw = await rawSession(broker.mqttPort, 'two-raw', false)
    raw.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'two/t', qos: 1 }] }))
    await waitFor(() => raw.received.some(p => p.cmd === 'suback'), 5000, 'SUBACK')
    const other = await resume(broker, 'two-other')
    await other.client.subscribeAsync('two/t', { qos: 1 })
    await other.client.endAsync()
    const pub = await connect(broker.mqttUrl, { clientId: 'two-pub' })
    await pub.publishAsync('two/t', 'in flight', { qos: 1 })
    await waitFor(() => raw.received.some(p => p.cmd === 'publish'), 5000, 'the raw session got it (and never acknowledges)')
    await pub.endAsync()
    await broker.crash()
    raw.socket.destroy()
    broker = await startBroker({ storage, redisUrl, dataDir })
    const back = await resume(broker, 'two-raw')
    await waitFor(() => back.got.length === 1, 5000, 'sent again after the restart')
    await back.client.endAsync()
    await onlySentinelNext(broker, 'two-raw')
    // Its queue holds the sentinel above too.
    const otherBack = await resume(broker, 'two-other')
    await waitFor(() => otherBack.got.some(m => m.payload === 'in flight'), 5000, 'the other session got it')
    await otherBack.client.endAsync()
    assert.equal(otherBack.got.filter(m => m.payload === 'in flight').length, 1, 'once')
    await onlySentinelNext(broker, 'two-other')
  } finally {
    await broker.stop()
  }
}

/** A clean start after a crash deletes the old session's queue, the message it had in flight included. */
async function cleanStartAfterCrash (storage: Storage, redisUrl?: string): Promise<void> {
  let broker = await startBroker({ storage, redisUrl })
  const dataDir = broker.dataDir
  try {
    const raw = await rawSession(broker.mqttPort, 'two-clean', false)
    raw.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'two/t', qos: 1 }] }))
    await waitFor(() => raw.received.some(p => p.cmd === 'suback'), 5000, 'SUBACK')
    const pub = await connect(broker.mqttUrl, { clientId: 'two-pub' })
    await pub.publishAsync('two/t', 'in flight', { qos: 1 })
    await waitFor(() => raw.received.some(p => p.cmd === 'publish'), 5000, 'the raw session got it (and never acknowledges)')
    await pub.endAsync()
    await broker.crash()
    raw.socket.destroy()
    broker = await startBroker({ storage, redisUrl, dataDir })
    const clean = await connect(broker.mqttUrl, { clientId: 'two-clean', clean: true })
    await clean.endAsync()
    const again = await resume(broker, 'two-clean')
    await again.client.subscribeAsync('two/t', { qos: 1 })
    const probe = await connect(broker.mqttUrl, { clientId: 'two-probe' })
    await sentinel(probe, again.got, 'two/t')
    assert.deepEqual(again.got.map(m => m.payload), [], 'the deleted session\'s message does not come back')
    await Promise.all([probe.endAsync(), again.client.endAsync()])
  } finally {
    await broker.stop()
  }
}

for (const storage of ['embedded', 'memory', 'redis'] as const) {
  test(`a message queued for two persistent sessions reaches each once and leaves both queues (${storage} storage)`, { skip: storage === 'redis' && needRedis() }, async () => {
    const redis = storage === 'redis' ? await startRedis() : null
    const broker = await startBroker({ storage, redisUrl: redis?.url })
    try {
      await queuedForTwo(broker)
    } finally {
      await broker.stop()
      await redis?.stop()
    }
  })
}

for (const storage of ['embedded', 'redis'] as const) {
  test(`a message in flight at a kill -9 is sent again once after the restart, to each session (${storage} storage)`, { skip: storage === 'redis' && needRedis() }, async () => {
    const redis = storage === 'redis' ? await startRedis() : null
    try {
      await inFlightAtCrash(storage, redis?.url)
    } finally {
      await redis?.stop()
    }
  })

  test(`a clean start after a kill -9 deletes the old session's queue, its message in flight included (${storage} storage)`, { skip: storage === 'redis' && needRedis() }, async () => {
    const redis = storage === 'redis' ? await startRedis() : null
    try {
      await cleanStartAfterCrash(storage, redis?.url)
    } finally {
      await redis?.stop()
    }
  })
}
