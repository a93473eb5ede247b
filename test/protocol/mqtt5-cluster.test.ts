// MQTT 5 across a two-node cluster on one Redis: properties cross nodes intact, a persistent
// session roams between nodes with its queue, and a takeover on the other node tells the
// first connection why (DISCONNECT 0x8E).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { raw5 } from '../helpers/raw5.js'
import { needRedis, startRedis, type RedisProcess } from '../helpers/redis.js'
import { waitFor } from '../helpers/system.js'

const skip = needRedis()
let redis: RedisProcess
let a: BrokerProcess
let b: BrokerProcess

before(async () => {
  if (skip) return
  redis = await startRedis()
  a = await startBroker({ storage: 'redis', redisUrl: redis.url })
  b = await startBroker({ storage: 'redis', redisUrl: redis.url })
})
after(async () => {
  if (skip) return
  await Promise.all([a.stop(), b.stop()])
  await redis.stop()
})

async function connect5 (url: string, opts: IClientOptions = {}): Promise<{ client: MqttClient, got: IPublishPacket[] }> {
  const client = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...opts })
  const got: IPublishPacket[] = []
  client.on('message', (_t, _p, packet) => got.push(packet))
  await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject) })
  return { client, got }
}

for (const qos of [0, 1] as const) {
  test(`QoS ${qos}: MQTT 5 properties published on node B reach a subscriber on node A`, { skip }, async () => {
    const sub = await connect5(a.mqttUrl)
    const pub = await connect5(b.mqttUrl)
    await sub.client.subscribeAsync(`c5/${qos}/#`, { qos, properties: { subscriptionIdentifier: 5 } })
    // The subscription reaches node B's route: retry a sentinel until it arrives.
    await waitFor(async () => {
      await pub.client.publishAsync(`c5/${qos}/ready`, 'r', { qos })
      return sub.got.some(p => p.topic.endsWith('/ready'))
    }, 5000, 'the route between the nodes')
    await pub.client.publishAsync(`c5/${qos}/x`, 'props', {
      qos, properties: { contentType: 'text/plain', correlationData: Buffer.from('abc'), responseTopic: 'c5/reply', userProperties: { site: 'b' }, messageExpiryInterval: 300 }
    })
    await waitFor(() => sub.got.some(p => p.topic === `c5/${qos}/x`), 5000, 'the message')
    const p = sub.got.find(m => m.topic === `c5/${qos}/x`)?.properties ?? {}
    assert.equal(p.contentType, 'text/plain')
    assert.equal(Buffer.from(p.correlationData as Buffer).toString(), 'abc')
    assert.equal(p.responseTopic, 'c5/reply')
    assert.deepEqual({ ...p.userProperties }, { site: 'b' })
    assert.ok((p.messageExpiryInterval ?? 0) > 290)
    assert.equal(p.subscriptionIdentifier, 5)
    await Promise.all([sub.client.endAsync(), pub.client.endAsync()])
  })
}

test('an MQTT 5 session with Session Expiry leaves node A and gets its queued messages, with properties, on node B', { skip }, async () => {
  const opts: IClientOptions = { clientId: 'c5-roamer', clean: false, properties: { sessionExpiryInterval: 600 } }
  const first = await connect5(a.mqttUrl, opts)
  await first.client.subscribeAsync('c5/roam/#', { qos: 1 })
  await first.client.endAsync()
  const pub = await connect5(a.mqttUrl)
  for (let i = 0; i < 5; i++) await pub.client.publishAsync('c5/roam/x', `q${i}`, { qos: 1, properties: { userProperties: { i: String(i) } } })
  const back = await connect5(b.mqttUrl, opts)
  await waitFor(() => back.got.length === 5, 5000, 'five queued messages')
  assert.deepEqual(back.got.map(m => m.payload.toString()), ['q0', 'q1', 'q2', 'q3', 'q4'])
  assert.deepEqual(back.got.map(m => (m.properties?.userProperties as Record<string, string>).i), ['0', '1', '2', '3', '4'])
  await back.client.endAsync({ properties: { sessionExpiryInterval: 0 } } as never)
  await pub.client.endAsync()
})

test('a takeover on the other node closes the first connection with DISCONNECT 0x8E', { skip }, async () => {
  const first = await raw5(a.mqttPort, { clientId: 'c5-twice' })
  const second = await raw5(b.mqttPort, { clientId: 'c5-twice' })
  const disconnect = await first.next(p => p.cmd === 'disconnect', 'DISCONNECT') as { reasonCode: number }
  assert.equal(disconnect.reasonCode, 0x8e)
  await waitFor(() => first.closed(), 5000, 'the close')
  second.socket.destroy()
})
