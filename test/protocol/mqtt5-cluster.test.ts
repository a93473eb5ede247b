// MQTT 5 across a two-node cluster on one Redis: properties cross nodes intact, a persistent
// session roams between nodes with its queue, and a takeover on the other node tells the
// first connection why (DISCONNECT 0x8E).
import { test } from 'node:test'
import type { IClientOptions } from 'mqtt'
import assert from 'node:assert/strict'
import { startBroker } from '../helpers/broker.js'
import { twoNodesForFile } from '../helpers/cluster.js'
import { connect5Collecting as connect5 } from '../helpers/mqtt.js'
import { raw5 } from '../helpers/raw5.js'
import { needRedis } from '../helpers/redis.js'
import { waitFor } from '../helpers/system.js'

const skip = needRedis()
const cluster = twoNodesForFile(skip)

for (const qos of [0, 1] as const) {
  test(`QoS ${qos}: MQTT 5 properties published on node B reach a subscriber on node A`, { skip }, async () => {
    const sub = await connect5(cluster.a.mqttUrl)
    const pub = await connect5(cluster.b.mqttUrl)
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
  const first = await connect5(cluster.a.mqttUrl, opts)
  await first.client.subscribeAsync('c5/roam/#', { qos: 1 })
  await first.client.endAsync()
  const pub = await connect5(cluster.a.mqttUrl)
  for (let i = 0; i < 5; i++) await pub.client.publishAsync('c5/roam/x', `q${i}`, { qos: 1, properties: { userProperties: { i: String(i) } } })
  const back = await connect5(cluster.b.mqttUrl, opts)
  await waitFor(() => back.got.length === 5, 5000, 'five queued messages')
  assert.deepEqual(back.got.map(m => m.payload.toString()), ['q0', 'q1', 'q2', 'q3', 'q4'])
  assert.deepEqual(back.got.map(m => (m.properties?.userProperties as Record<string, string>).i), ['0', '1', '2', '3', '4'])
  await back.client.endAsync({ properties: { sessionExpiryInterval: 0 } } as never)
  await pub.client.endAsync()
})

test('a takeover on the other node closes the first connection with DISCONNECT 0x8E', { skip }, async () => {
  const first = await raw5(cluster.a.mqttPort, { clientId: 'c5-twice' })
  const second = await raw5(cluster.b.mqttPort, { clientId: 'c5-twice' })
  const disconnect = await first.next(p => p.cmd === 'disconnect', 'DISCONNECT') as { reasonCode: number }
  assert.equal(disconnect.reasonCode, 0x8e)
  await waitFor(() => first.closed(), 5000, 'the close')
  second.socket.destroy()
})

test('node A dies (kill -9): node B publishes the MQTT 5 will of a client that was connected to A, with its properties', { skip }, async () => {
  const args = ['--heartbeat-interval', '300ms']
  const x = await startBroker({ storage: 'redis', redisUrl: cluster.redis.url, args })
  const y = await startBroker({ storage: 'redis', redisUrl: cluster.redis.url, args })
  try {
    const watcher = await connect5(y.mqttUrl)
    await watcher.client.subscribeAsync('c5/will/#', { qos: 1 })
    const device = await connect5(x.mqttUrl, {
      clientId: 'c5-will',
      will: { topic: 'c5/will/status', payload: Buffer.from('offline'), qos: 1, retain: false, properties: { contentType: 'text/plain', userProperties: { site: 'north' } } }
    })
    device.client.on('error', () => {})
    await x.crash()
    device.client.end(true)
    await waitFor(() => watcher.got.length >= 1, 10_000, 'the will, from node B')
    const [will] = watcher.got
    assert.equal(will.payload.toString(), 'offline')
    assert.equal(will.properties?.contentType, 'text/plain')
    assert.deepEqual({ ...will.properties?.userProperties }, { site: 'north' })
    await watcher.client.endAsync()
  } finally {
    await y.stop()
  }
})
