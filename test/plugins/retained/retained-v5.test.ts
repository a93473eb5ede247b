// MQTT 5 retained messages: the store keeps their properties (MQTT-3.3.2-17, -20: a
// subscriber gets them unaltered) and their Message Expiry Interval (MQTT-3.3.2-5: not
// delivered after it; a subscriber gets the time left, MQTT-3.3.2-6), on embedded storage
// across kill -9, and on Redis between cluster nodes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IPublishPacket, MqttClient } from 'mqtt'
import { startBroker } from '../../helpers/broker.js'
import { collectPackets, connect, connect5 } from '../../helpers/mqtt.js'
import { needRedis, startRedis } from '../../helpers/redis.js'
import { waitFor } from '../../helpers/system.js'

const PROPERTIES = {
  contentType: 'application/json',
  responseTopic: 'replies/d1',
  correlationData: Buffer.from([0, 1, 2, 255]),
  payloadFormatIndicator: true,
  userProperties: { unit: 'celsius', origin: 'retained-v5' }
}

async function subscriber (url: string, filter: string): Promise<{ client: MqttClient, got: IPublishPacket[] }> {
  const client = await connect5(url)
  const got = collectPackets(client)
  await client.subscribeAsync(filter, { qos: 1 })
  return { client, got }
}

function assertProperties (packet: IPublishPacket): void {
  const p = packet.properties ?? {}
  assert.equal(p.contentType, PROPERTIES.contentType)
  assert.equal(p.responseTopic, PROPERTIES.responseTopic)
  assert.ok(Buffer.from(p.correlationData ?? []).equals(PROPERTIES.correlationData), 'correlation data')
  assert.equal(p.payloadFormatIndicator, true)
  assert.deepEqual({ ...p.userProperties }, PROPERTIES.userProperties)
}

test('embedded: a retained MQTT 5 message keeps its properties across kill -9; a 3.1.1 subscriber gets the same payload without them', async () => {
  let broker = await startBroker()
  const dataDir = broker.dataDir
  try {
    const pub = await connect(broker.mqttUrl, { protocolVersion: 5 })
    await pub.publishAsync('v5r/d1/temp', '21.5', { qos: 1, retain: true, properties: PROPERTIES })
    await pub.endAsync()
    await broker.crash()
    broker = await startBroker({ dataDir })
    const { client, got } = await subscriber(broker.mqttUrl, 'v5r/#')
    await waitFor(() => got.length === 1, 5000, 'the retained message')
    assert.equal(got[0].payload.toString(), '21.5')
    assert.equal(got[0].retain, true)
    assertProperties(got[0])
    await client.endAsync()
    const v3 = await connect(broker.mqttUrl)
    const plain: Array<{ payload: string, retain: boolean }> = []
    v3.on('message', (_t, payload, packet) => plain.push({ payload: payload.toString(), retain: packet.retain }))
    await v3.subscribeAsync('v5r/#', { qos: 1 })
    await waitFor(() => plain.length === 1, 5000, 'the retained message over MQTT 3.1.1')
    assert.deepEqual(plain, [{ payload: '21.5', retain: true }])
    await v3.endAsync()
    // The admin API shows the properties too.
    const one = await (await fetch(`${broker.httpUrl}/api/retained/one?topic=v5r/d1/temp`)).json() as { payloadText: string, properties: Record<string, unknown> }
    assert.equal(one.payloadText, '21.5')
    assert.equal(one.properties.contentType, 'application/json')
    assert.equal(one.properties.correlationData, PROPERTIES.correlationData.toString('base64'))
  } finally {
    await broker.stop()
  }
})

test('Message Expiry Interval: a subscriber gets the time left; once it has passed the message is not delivered, not listed, and swept', async () => {
  const broker = await startBroker()
  try {
    const pub = await connect(broker.mqttUrl, { protocolVersion: 5 })
    await pub.publishAsync('exp/a', 'short-lived', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } })
    await pub.publishAsync('exp/m', 'an hour', { qos: 1, retain: true, properties: { messageExpiryInterval: 3600 } })
    await pub.publishAsync('exp/z', 'forever', { qos: 1, retain: true })
    const early = await subscriber(broker.mqttUrl, 'exp/m')
    await waitFor(() => early.got.length === 1, 5000, 'the hour-long message')
    const left = early.got[0].properties?.messageExpiryInterval ?? 0
    assert.ok(left > 3590 && left <= 3600, `time left ${left} s`)
    await early.client.endAsync()
    // The sweep deletes it from the store (counted), and the admin API stops listing it.
    const metric = async (name: string): Promise<number> => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(`${broker.httpUrl}/metrics`)).text())?.[1] ?? NaN)
    await waitFor(async () => await metric('swallow_retained_expired_total') === 1, 10_000, 'exp/a swept')
    assert.equal((await fetch(`${broker.httpUrl}/api/retained/one?topic=exp/a`)).status, 404)
    const listed = await (await fetch(`${broker.httpUrl}/api/retained?filter=exp/%23`)).json() as { items: Array<{ topic: string }> }
    assert.deepEqual(listed.items.map(i => i.topic), ['exp/m', 'exp/z'])
    // A # walk visits topics in the order they were first stored: exp/a would come before the others.
    const late = await subscriber(broker.mqttUrl, 'exp/#')
    await waitFor(() => late.got.some(p => p.topic === 'exp/z'), 5000, 'the sentinel exp/z')
    assert.deepEqual(late.got.map(p => p.topic), ['exp/m', 'exp/z'])
    assert.equal(late.got[1].properties?.messageExpiryInterval, undefined, 'no expiry: no interval')
    await late.client.endAsync()
    await pub.endAsync()
  } finally {
    await broker.stop()
  }
})

test('Redis: a retained MQTT 5 message stored through node A reaches a new subscriber on node B with its properties and expiry', { skip: needRedis() }, async () => {
  const redis = await startRedis()
  const a = await startBroker({ storage: 'redis', redisUrl: redis.url })
  const b = await startBroker({ storage: 'redis', redisUrl: redis.url })
  try {
    const pub = await connect(a.mqttUrl, { protocolVersion: 5 })
    await pub.publishAsync('v5c/d1', 'from A', { qos: 1, retain: true, properties: { ...PROPERTIES, messageExpiryInterval: 600 } })
    await pub.endAsync()
    const { client, got } = await subscriber(b.mqttUrl, 'v5c/#')
    await waitFor(() => got.length === 1, 5000, 'the retained message on node B')
    assertProperties(got[0])
    const left = got[0].properties?.messageExpiryInterval ?? 0
    assert.ok(left > 590 && left <= 600, `time left ${left} s`)
    await client.endAsync()
  } finally {
    await Promise.all([a.stop(), b.stop()])
    await redis.stop()
  }
})
