// $delayed/<seconds>/<topic> from real clients (MQTT.js 3.1.1 and 5.0, mosquitto_pub): published
// to <topic> after the delay with its QoS, retain flag and MQTT 5 properties; at release, the
// retained store, offline queues and the log bridge see it on <topic>; the ACL checks <topic>.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker } from '../../helpers/broker.js'
import { collect, connect, connect5, connect5Collecting, connectCollecting, run, sentinel } from '../../helpers/mqtt.js'
import { needBinary, waitFor } from '../../helpers/system.js'
import { files } from '../auth/auth-helpers.js'
import { api, metric, waitMetric } from './delayed-helpers.js'

const noMosquitto = needBinary('mosquitto_pub', 'mosquitto-clients')

test('MQTT 3.1.1: a $delayed/1/<topic> PUBLISH arrives on <topic> after the delay, once, with its QoS and retain flag', async () => {
  const broker = await startBroker({ storage: 'memory', args: ['--sys-interval', 'off'] })
  try {
    const { client: sub, got } = await connectCollecting(broker.mqttUrl)
    await sub.subscribeAsync('d/#', { qos: 2 })
    const pub = await connect(broker.mqttUrl)
    const arrived = new Map<string, number>()
    sub.on('message', (_t, p) => { if (!arrived.has(p.toString())) arrived.set(p.toString(), Date.now()) })
    const sentAt = Date.now()
    await pub.publishAsync('$delayed/1/d/one', 'q1', { qos: 1 })
    await pub.publishAsync('$delayed/1/d/two', 'q2', { qos: 2 })
    await pub.publishAsync('$delayed/1/d/kept', 'retained', { qos: 1, retain: true })
    // Not there before the delay: a direct message sent after them arrives alone.
    await sentinel(pub, got, 'd/sentinel')
    assert.equal(got.length, 0, JSON.stringify(got))
    await waitFor(() => got.length === 3, 5000, 'the three delayed messages')
    for (const payload of ['q1', 'q2', 'retained']) assert.ok((arrived.get(payload) as number) - sentAt >= 990, `${payload} arrived after ${(arrived.get(payload) as number) - sentAt} ms`)
    const byPayload = new Map(got.map(m => [m.payload, m]))
    assert.deepEqual(byPayload.get('q1'), { topic: 'd/one', payload: 'q1', qos: 1, retain: false })
    assert.deepEqual(byPayload.get('q2'), { topic: 'd/two', payload: 'q2', qos: 2, retain: false })
    assert.equal(byPayload.get('retained')?.topic, 'd/kept')
    // Retained at release: a new subscriber gets it from the retained store.
    const { client: late, got: lateGot } = await connectCollecting(broker.mqttUrl)
    await late.subscribeAsync('d/kept', { qos: 1 })
    await waitFor(() => lateGot.length === 1, 5000, 'the retained message')
    assert.deepEqual(lateGot[0], { topic: 'd/kept', payload: 'retained', qos: 1, retain: true })
    await sentinel(pub, got, 'd/sentinel')
    assert.equal(got.length, 3, 'each published once')
    assert.equal(await metric(broker.httpUrl, 'swallow_delayed_published_total'), 3)
    assert.equal(await metric(broker.httpUrl, 'swallow_delayed_lateness_seconds_count'), 3)
    await Promise.all([sub.endAsync(), pub.endAsync(), late.endAsync()])
  } finally {
    await broker.stop()
  }
})

test('MQTT 5: the properties travel, Message Expiry counts from the original PUBLISH, and one that expires while waiting is not published (counted)', async () => {
  const broker = await startBroker({ storage: 'memory', args: ['--sys-interval', 'off'] })
  try {
    const { client: sub, got } = await connect5Collecting(broker.mqttUrl)
    await sub.subscribeAsync('v5/#', { qos: 1 })
    const pub = await connect5(broker.mqttUrl, { clientId: 'v5-publisher' })
    await pub.publishAsync('$delayed/1/v5/expires', 'gone', { qos: 1, properties: { messageExpiryInterval: 1 } })
    await pub.publishAsync('$delayed/2/v5/props', 'kept', {
      qos: 1,
      properties: { messageExpiryInterval: 10, contentType: 'text/plain', responseTopic: 'v5/reply', correlationData: Buffer.from([1, 2, 3]), userProperties: { k: 'v' }, payloadFormatIndicator: true }
    })
    await waitFor(() => got.length === 1, 6000, 'the delayed message')
    const p = got[0]
    assert.equal(p.topic, 'v5/props')
    assert.equal(p.payload.toString(), 'kept')
    assert.equal(p.qos, 1)
    assert.equal(p.properties?.contentType, 'text/plain')
    assert.equal(p.properties?.responseTopic, 'v5/reply')
    assert.deepEqual([...(p.properties?.correlationData ?? [])], [1, 2, 3])
    assert.deepEqual({ ...p.properties?.userProperties }, { k: 'v' })
    assert.equal(p.properties?.payloadFormatIndicator, true)
    // 10 s from the original PUBLISH, 2 s of which went waiting.
    assert.ok((p.properties?.messageExpiryInterval ?? 0) <= 8, `expiry interval ${p.properties?.messageExpiryInterval}`)
    // Released in due order: the one that expired (due first) was dropped, not sent late.
    await waitMetric(broker.httpUrl, 'swallow_delayed_expired_total', 1)
    assert.deepEqual(got.map(m => m.topic), ['v5/props'])
    assert.equal(await metric(broker.httpUrl, 'swallow_delayed_published_total'), 1)
    await Promise.all([sub.endAsync(), pub.endAsync()])
  } finally {
    await broker.stop()
  }
})

test('mosquitto_pub -V mqttv5 and mqttv311: the message arrives on the inner topic after the delay', { skip: noMosquitto }, async () => {
  const broker = await startBroker({ storage: 'memory', args: ['--sys-interval', 'off'] })
  try {
    const sub = await connect(broker.mqttUrl)
    const got = collect(sub)
    await sub.subscribeAsync('mosq/#', { qos: 1 })
    const port = String(broker.mqttPort)
    for (const version of ['mqttv5', 'mqttv311']) {
      const r = await run('mosquitto_pub', ['-p', port, '-V', version, '-q', '1', '-t', '$delayed/1/mosq/' + version, '-m', version])
      assert.equal(r.code, 0, r.stderr)
    }
    const pub = await connect(broker.mqttUrl)
    await sentinel(pub, got, 'mosq/sentinel')
    assert.equal(got.length, 0, JSON.stringify(got))
    await waitFor(() => got.length === 2, 5000, 'both delayed messages')
    assert.deepEqual(got.map(m => m.topic).sort(), ['mosq/mqttv311', 'mosq/mqttv5'])
    await Promise.all([sub.endAsync(), pub.endAsync()])
  } finally {
    await broker.stop()
  }
})

test('an offline persistent session gets the delayed message queued at release', async () => {
  const broker = await startBroker({ args: ['--sys-interval', 'off'] })
  try {
    const sub = await connect(broker.mqttUrl, { clientId: 'offline-sub', clean: false })
    await sub.subscribeAsync('queued/#', { qos: 1 })
    await sub.endAsync()
    const pub = await connect(broker.mqttUrl)
    await pub.publishAsync('$delayed/1/queued/x', 'while offline', { qos: 1 })
    await waitMetric(broker.httpUrl, 'swallow_delayed_published_total', 1)
    const { client: back, got } = await connectCollecting(broker.mqttUrl, { clientId: 'offline-sub', clean: false })
    await waitFor(() => got.length === 1, 5000, 'the queued message')
    assert.deepEqual(got[0], { topic: 'queued/x', payload: 'while offline', qos: 1, retain: false })
    await Promise.all([back.endAsync(), pub.endAsync()])
  } finally {
    await broker.stop()
  }
})

test('the log bridge records a delayed message at release, on <topic>, and not at store time', async () => {
  const broker = await startBroker({ args: ['--sys-interval', 'off', '--bridge-rule', 'b/#=bstream:durable'] })
  try {
    const pub = await connect(broker.mqttUrl, { clientId: 'bridge-pub' })
    await pub.publishAsync('$delayed/1/b/later', 'delayed', { qos: 1 })
    await pub.publishAsync('b/now', 'direct', { qos: 1 })
    const records = async (): Promise<string> => await (await fetch(`${broker.httpUrl}/api/streams/bstream/records?from=earliest`)).text()
    const before = await records()
    assert.ok(before.includes('b/now') && !before.includes('later'), before)
    await waitMetric(broker.httpUrl, 'swallow_delayed_published_total', 1)
    const after = (await records()).trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
    assert.deepEqual(after.map(r => r.topic), ['b/now', 'b/later'])
    assert.equal(after[1].clientId, 'bridge-pub')
    await pub.endAsync()
  } finally {
    await broker.stop()
  }
})

test('the ACL checks the inner topic: a client may delay only what it may publish (MQTT 5: 0x87)', async () => {
  const f = files({ acl: 'topic readwrite open/#\n' })
  const broker = await startBroker({ storage: 'memory', args: ['--acl-file', f.path('acl'), '--sys-interval', 'off'] })
  try {
    const { client: sub, got } = await connect5Collecting(broker.mqttUrl)
    await sub.subscribeAsync('open/#', { qos: 1 })
    const pub = await connect5(broker.mqttUrl)
    await pub.publishAsync('$delayed/1/open/ok', 'allowed', { qos: 1 })
    await assert.rejects(pub.publishAsync('$delayed/1/closed/x', 'denied', { qos: 1 }), (err: { code?: number }) => err.code === 0x87)
    assert.equal((await api(`${broker.httpUrl}/api/delayed`)).body.pending, 1)
    await waitFor(() => got.length === 1, 5000, 'the allowed message')
    assert.equal(got[0].topic, 'open/ok')
    await Promise.all([sub.endAsync(), pub.endAsync()])
  } finally {
    await broker.stop()
  }
})
