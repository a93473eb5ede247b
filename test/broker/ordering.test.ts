// Aedes drops a delivery as a "duplicate" when its broker counter is not higher than the last
// one the client received; storage writes that finish out of order (LevelDB), QoS 0 passing
// QoS 1, or the cluster route made it lose acknowledged messages. Swallow replaces that rule.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { collect, connect, publishStream } from '../helpers/mqtt.js'
import { waitFor } from '../helpers/system.js'

let broker: BrokerProcess
before(async () => { broker = await startBroker() }) // embedded storage
after(async () => { await broker.stop() })

test('with a persistent subscriber present, concurrent QoS 1 publishers lose nothing at any subscriber', async () => {
  const persistent = await connect(broker.mqttUrl, { clientId: 'order-persistent', clean: false })
  const live = await connect(broker.mqttUrl, { clientId: 'order-live' })
  const gotPersistent = new Set<string>()
  const gotLive = new Set<string>()
  persistent.on('message', (_t, p) => gotPersistent.add(p.toString()))
  live.on('message', (_t, p) => gotLive.add(p.toString()))
  await persistent.subscribeAsync('order/#', { qos: 1 })
  await live.subscribeAsync(['order/#', 'mixed/#'], { qos: 1 })
  const publishers = await Promise.all(Array.from({ length: 20 }, (_, i) => connect(broker.mqttUrl, { clientId: `order-pub-${i}` })))
  const streams = publishers.map((p, i) => publishStream(p, `order/${i}`, 100, 10, `p${i}-`))
  // QoS 0 traffic interleaved: it takes a faster path than QoS 1 and must not hide QoS 1 messages.
  const noise = publishers[0]
  for (let i = 0; i < 200; i++) noise.publish('mixed/noise', 'n', { qos: 0 })
  await Promise.all(streams.map(s => s.done))
  const acked = new Set(streams.flatMap(s => [...s.acked]))
  assert.equal(acked.size, 2000)
  await waitFor(() => gotLive.size >= 2000 && gotPersistent.size >= 2000, 20_000, 'every message at both subscribers')
  await Promise.all([persistent.endAsync(), live.endAsync(), ...publishers.map(p => p.endAsync())])
})

test('overlapping subscriptions still deliver a message once', async () => {
  const sub = await connect(broker.mqttUrl)
  const got = collect(sub)
  await sub.subscribeAsync(['overlap/#', 'overlap/+/x', 'overlap/a/x'], { qos: 1 })
  const pub = await connect(broker.mqttUrl)
  for (let i = 0; i < 20; i++) await pub.publishAsync('overlap/a/x', `m${i}`, { qos: 1 })
  await pub.publishAsync('overlap/end', 'end', { qos: 1 })
  await waitFor(() => got.some(m => m.topic === 'overlap/end'), 5000, 'the end marker')
  assert.equal(got.filter(m => m.topic === 'overlap/a/x').length, 20)
  await Promise.all([sub.endAsync(), pub.endAsync()])
})
