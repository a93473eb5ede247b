// QoS 0/1/2 end to end over TCP and WebSocket with MQTT.js, and topic matching.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { collect, connect, connectCollecting, sentinel } from '../helpers/mqtt.js'
import { waitFor } from '../helpers/system.js'

let broker: BrokerProcess
before(async () => { broker = await startBroker({ args: ['--sys-interval', '200ms'] }) })
after(async () => { await broker.stop() })

for (const transport of ['tcp', 'ws'] as const) {
  for (const qos of [0, 1, 2] as const) {
    test(`QoS ${qos} end to end over ${transport === 'tcp' ? 'TCP' : 'WebSocket'}`, async () => {
      const url = transport === 'tcp' ? broker.mqttUrl : broker.wsUrl
      const sub = await connect(url, { clientId: `sub-${transport}-${qos}` })
      const pub = await connect(url, { clientId: `pub-${transport}-${qos}` })
      try {
        const got = collect(sub)
        await sub.subscribeAsync(`e2e/${transport}/${qos}`, { qos })
        for (let i = 0; i < 50; i++) await pub.publishAsync(`e2e/${transport}/${qos}`, `m${i}`, { qos })
        await waitFor(() => got.length >= 50, 5000, '50 messages')
        assert.deepEqual(got.map(m => m.payload), Array.from({ length: 50 }, (_, i) => `m${i}`), 'all, once, in order')
        assert.ok(got.every(m => m.qos === qos))
      } finally {
        await Promise.all([sub.endAsync(), pub.endAsync()])
      }
    })
  }
}

test('the WebSocket listener negotiates the mqtt subprotocol', async () => {
  const { WebSocket } = await import('ws')
  const ws = new WebSocket(broker.wsUrl, ['mqtt'])
  const protocol = await new Promise<string>((resolve, reject) => {
    ws.once('open', () => resolve(ws.protocol))
    ws.once('error', reject)
  })
  ws.close()
  assert.equal(protocol, 'mqtt')
})

test('wildcards: + matches one level, # the rest, and neither matches $ topics (MQTT-4.7.2-1)', async () => {
  const sub = await connect(broker.mqttUrl)
  const pub = await connect(broker.mqttUrl)
  try {
    const got = collect(sub)
    await sub.subscribeAsync(['wild/+/temp', 'deep/#', '#'].map(topic => topic), { qos: 1 })
    const topics = ['wild/a/temp', 'wild/a/b/temp', 'wild//temp', 'deep', 'deep/x/y', '$SYS/fake', 'other']
    for (const t of topics) {
      if (t.startsWith('$')) continue
      await pub.publishAsync(t, t, { qos: 1 })
    }
    await pub.publishAsync('done', 'done', { qos: 1 })
    await waitFor(() => got.some(m => m.topic === 'done'), 5000, 'the done marker')
    const by = (filterTopic: string): number => got.filter(m => m.topic === filterTopic).length
    assert.equal(by('wild/a/temp'), 1, 'matched by + (and by #: one delivery per client, the highest QoS)')
    assert.equal(by('wild//temp'), 1, '+ matches an empty level')
    assert.equal(by('deep'), 1, 'deep/# matches its parent level')
    assert.equal(by('deep/x/y'), 1)
    // $SYS topics are published by the broker itself every 200 ms; "#" must not receive them:
    // once a $SYS subscriber has had two rounds, a sentinel on "#" comes after any that leaked.
    const spy = await connect(broker.mqttUrl)
    const sys = collect(spy)
    await spy.subscribeAsync('$SYS/broker/uptime')
    await waitFor(() => sys.length >= 2, 5000, 'two $SYS rounds')
    await sentinel(pub, got, 'sentinel/sys')
    await spy.endAsync()
    assert.equal(got.filter(m => m.topic.startsWith('$')).length, 0, '# does not match $SYS topics')
  } finally {
    await Promise.all([sub.endAsync(), pub.endAsync()])
  }
})

test('$SYS topics are published and readable with an explicit $SYS subscription', async () => {
  const sub = await connect(broker.mqttUrl)
  try {
    const got = collect(sub)
    await sub.subscribeAsync('$SYS/broker/#')
    await waitFor(() => ['version', 'uptime', 'clients/connected', 'messages/received', 'messages/sent', 'subscriptions/count', 'heap/current']
      .every(t => got.some(m => m.topic === `$SYS/broker/${t}`)), 5000, 'every $SYS topic')
    assert.match(got.find(m => m.topic === '$SYS/broker/version')?.payload ?? '', /^swallow \d/)
  } finally {
    await sub.endAsync()
  }
})

test('clients cannot publish into $SYS', async () => {
  const sub = await connect(broker.mqttUrl)
  const pub = await connect(broker.mqttUrl)
  try {
    const got = collect(sub)
    await sub.subscribeAsync('$SYS/fake/#')
    const refused = new Promise<void>(resolve => pub.once('close', () => resolve()))
    pub.publish('$SYS/fake/x', 'spoof')
    // MQTT 3.1.1 has no way to refuse a PUBLISH: the broker closes the connection, after which nothing of it is routed.
    await refused
    assert.equal(got.length, 0)
  } finally {
    sub.end(true)
    pub.end(true)
  }
})

test('a retained message reaches a later subscriber; an empty retained payload clears it', async () => {
  const pub = await connect(broker.mqttUrl)
  try {
    await pub.publishAsync('ret/a', 'kept', { qos: 1, retain: true })
    const late = await connect(broker.mqttUrl)
    const got = collect(late)
    await late.subscribeAsync('ret/#', { qos: 1 })
    await waitFor(() => got.length === 1, 3000, 'the retained message')
    assert.deepEqual(got[0], { topic: 'ret/a', payload: 'kept', qos: 1, retain: true })
    await late.endAsync()
    await pub.publishAsync('ret/a', '', { qos: 1, retain: true })
    // Read from the store (the admin API): a later subscriber could only prove it by waiting.
    const left = await (await fetch(`${broker.httpUrl}/api/retained?filter=${encodeURIComponent('ret/#')}`)).json() as { items: unknown[] }
    assert.deepEqual(left.items, [], 'cleared')
  } finally {
    await pub.endAsync()
  }
})

test('QoS 1/2 deliveries to clean and persistent sessions: each message once, in order, at the granted QoS of an exact-topic subscription', async () => {
  for (const clean of [true, false]) {
    const sub = await connect(broker.mqttUrl, { clientId: `granted-${String(clean)}`, clean })
    const got = collect(sub)
    await sub.subscribeAsync('grant/one', { qos: 1 })
    await sub.subscribeAsync('grant/two', { qos: 2 })
    const pub = await connect(broker.mqttUrl)
    for (let i = 0; i < 300; i++) {
      pub.publish('grant/one', `a${i}`, { qos: 2 })
      pub.publish('grant/two', `b${i}`, { qos: 2 })
    }
    await waitFor(() => got.length === 600, 10_000, '600 deliveries')
    assert.deepEqual(got.filter(m => m.topic === 'grant/one').map(m => m.payload), Array.from({ length: 300 }, (_, i) => `a${i}`))
    assert.deepEqual(got.filter(m => m.topic === 'grant/two').map(m => m.payload), Array.from({ length: 300 }, (_, i) => `b${i}`))
    assert.ok(got.filter(m => m.topic === 'grant/one').every(m => m.qos === 1), 'downgraded to the granted QoS 1')
    assert.ok(got.filter(m => m.topic === 'grant/two').every(m => m.qos === 2))
    await pub.endAsync()
    await sub.endAsync()
  }
})

test('a live subscriber gets pipelined messages in order when only some of them are stored for a persistent session (publish route)', async () => {
  // mixed/stored/<i> has a persistent session's subscription (stored before routing), mixed/live/<i>
  // none (routed without storage): the route must not let the unstored ones overtake.
  const keeper = await connect(broker.mqttUrl, { clientId: 'mixed-keeper', clean: false })
  await keeper.subscribeAsync('mixed/stored/#', { qos: 1 })
  await keeper.endAsync()
  const sub = await connect(broker.mqttUrl, { clientId: 'mixed-live' })
  const got = collect(sub)
  await sub.subscribeAsync('mixed/#', { qos: 1 })
  const pub = await connect(broker.mqttUrl)
  for (let i = 0; i < 400; i++) pub.publish(i % 3 === 0 ? `mixed/stored/${i}` : `mixed/live/${i}`, String(i), { qos: 1 })
  await waitFor(() => got.length === 400, 10_000, '400 deliveries')
  assert.deepEqual(got.map(m => Number(m.payload)), Array.from({ length: 400 }, (_, i) => i), 'in the order sent')
  await pub.endAsync()
  await sub.endAsync()
  const { client: back, got: kept } = await connectCollecting(broker.mqttUrl, { clientId: 'mixed-keeper', clean: false })
  await waitFor(() => kept.length === 134, 10_000, 'the 134 stored ones')
  assert.ok(kept.every(m => m.topic.startsWith('mixed/stored/')))
  await back.endAsync()
})

test('a delivery has the QoS of the best matching subscription, never above the published QoS (MQTT-3.8.4-6, MQTT-3.3.5-1)', async () => {
  for (const clean of [true, false]) {
    const sub = await connect(broker.mqttUrl, { clientId: `cap-${String(clean)}`, clean })
    const got = collect(sub)
    await sub.subscribeAsync('cap/+', { qos: 1 }) // wildcard, QoS 1
    await sub.subscribeAsync('deep/#', { qos: 0 })
    await sub.subscribeAsync('deep/+/x', { qos: 1 }) // overlapping: the best is QoS 1
    const pub = await connect(broker.mqttUrl)
    await pub.publishAsync('cap/a', 'q2-on-q1-wildcard', { qos: 2 })
    await pub.publishAsync('cap/b', 'q0-stays-q0', { qos: 0 })
    await pub.publishAsync('deep/1/x', 'q2-on-overlap', { qos: 2 })
    await pub.publishAsync('deep/1/y', 'q2-on-q0', { qos: 2 })
    await waitFor(() => got.length === 4, 5000, 'four deliveries')
    const qosOf = (payload: string): number | undefined => got.find(m => m.payload === payload)?.qos
    assert.equal(qosOf('q2-on-q1-wildcard'), 1)
    assert.equal(qosOf('q0-stays-q0'), 0)
    assert.equal(qosOf('q2-on-overlap'), 1)
    assert.equal(qosOf('q2-on-q0'), 0)
    assert.equal(got.length, 4, 'one delivery per message despite overlapping subscriptions')
    await pub.endAsync()
    await sub.endAsync()
  }
})

test('an exact-topic QoS 0 subscription overlapping a QoS 1 wildcard: every message arrives, none holds an in-flight slot', async () => {
  // 150 > --max-inflight (100): a delivery written at QoS 0 but counted as in flight would stall the rest.
  for (const clean of [true, false]) {
    const sub = await connect(broker.mqttUrl, { clientId: `overlap-${String(clean)}`, clean })
    const got = collect(sub)
    await sub.subscribeAsync('overlap/x', { qos: 0 })
    await sub.subscribeAsync('overlap/+', { qos: 1 })
    const pub = await connect(broker.mqttUrl)
    for (let i = 0; i < 150; i++) pub.publish('overlap/x', `${i}`, { qos: 1 })
    await waitFor(() => got.length === 150, 10_000, '150 deliveries')
    assert.deepEqual(got.map(m => m.payload), Array.from({ length: 150 }, (_, i) => `${i}`))
    // both session kinds get the best granted QoS (MQTT-3.3.5-1)
    assert.ok(got.every(m => m.qos === 1))
    await pub.endAsync()
    await sub.endAsync()
  }
})
