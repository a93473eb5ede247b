// The hook composition that plugins rely on, with a real broker in this process and real clients.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createSwallow, type Swallow } from '../src/broker.js'
import { loadConfig } from '../src/config.js'
import { createLogger } from '../src/logger.js'
import type { Plugin } from '../src/plugin.js'
import { collect, connect } from './helpers/mqtt.js'
import { connectPacket, exchange, subscribePacket } from './helpers/raw.js'
import { tempDir, waitFor } from './helpers/system.js'

const seenByLaterHook: string[] = []
const order: string[] = []
const dropper: Plugin = {
  name: 'dropper',
  async setup ({ hooks }) {
    hooks.add('authorizePublish', (client, packet, done) => {
      order.push('dropper')
      if (client && packet.topic.startsWith('deny/')) hooks.dropPublish(packet)
      done(null)
    })
    hooks.add('authorizeSubscribe', (_client, sub, done) => done(null, sub.topic === 'forbidden' ? null : sub))
    hooks.add('authorizeForward', (_client, packet) => packet.topic === 'hidden' ? null : packet)
  }
}
const recorder: Plugin = {
  name: 'recorder',
  async setup ({ hooks }) {
    hooks.add('authorizePublish', (client, packet, done) => {
      order.push('recorder')
      if (client) seenByLaterHook.push(packet.topic)
      done(null)
    })
  }
}

let swallow: Swallow
let url: string
const dir = tempDir()
before(async () => {
  const config = loadConfig({ argv: ['--mqtt-port', '0', '--ws-port', 'off', '--http-port', 'off', '--storage', 'memory', '--data-dir', dir.path], env: {} })
  swallow = await createSwallow(config, [dropper, recorder], createLogger({ logLevel: 'silent', logFormat: 'json' }))
  url = swallow.listeners[0].url
})
after(async () => {
  await swallow.close()
  dir.remove()
})

test('authorizePublish handlers run in plugin order', async () => {
  order.length = 0
  const c = await connect(url)
  await c.publishAsync('ok/1', 'x', { qos: 1 })
  await c.endAsync()
  assert.deepEqual(order, ['dropper', 'recorder'])
})

test('hooks.dropPublish: QoS 0/1/2 are acknowledged, not routed, not retained, and later hooks do not see them', async () => {
  const sub = await connect(url)
  const got = collect(sub)
  await sub.subscribeAsync('#', { qos: 2 })
  const pub = await connect(url)
  for (const qos of [0, 1, 2] as const) await pub.publishAsync(`deny/${qos}`, 'secret', { qos, retain: true })
  // Published after the denied ones on the same connection: once it is here, they would be too.
  await pub.publishAsync('allowed/x', 'fine', { qos: 1 })
  await waitFor(() => got.some(m => m.topic === 'allowed/x'), 3000, 'the allowed message')
  assert.deepEqual(got.map(m => m.topic), ['allowed/x'])
  assert.ok(pub.connected, 'the publisher stays connected')
  assert.ok(!seenByLaterHook.some(t => t.startsWith('deny/')))
  // Read from the store itself: a late subscriber could only prove it by waiting.
  const { persistence } = swallow.storage
  const retainedStream = persistence.createRetainedStreamCombi as (this: typeof persistence, filters: string[]) => AsyncIterable<unknown>
  const retained = []
  for await (const packet of retainedStream.call(persistence, ['deny/#'])) retained.push(packet)
  assert.equal(retained.length, 0, 'not retained')
  await Promise.all([sub.endAsync(), pub.endAsync()])
})

test('authorizeSubscribe: a refused filter gets 0x80 while the others in the packet are granted', async () => {
  const port = Number(new URL(url).port)
  const outcome = await exchange(port, [connectPacket('mixed'), subscribePacket(1, [{ topic: 'ok', qos: 1 }, { topic: 'forbidden', qos: 1 }])], 2)
  assert.deepEqual(outcome.packets, ['connack:0', 'suback:1,128'])
})

test('authorizeForward: a handler can withhold a delivery', async () => {
  const sub = await connect(url)
  const got = collect(sub)
  await sub.subscribeAsync(['hidden', 'shown'])
  const pub = await connect(url)
  await pub.publishAsync('hidden', 'x', { qos: 1 })
  await pub.publishAsync('shown', 'y', { qos: 1 })
  // Published after the hidden one: once it is here, the hidden one would be too.
  await waitFor(() => got.some(m => m.topic === 'shown'), 3000, 'the shown message')
  assert.deepEqual(got.map(m => m.topic), ['shown'])
  await Promise.all([sub.endAsync(), pub.endAsync()])
})
