// A malformed or over-limit $delayed/ PUBLISH: MQTT 5 gets PUBACK 0x83 (malformed, longer than
// --delayed-max) or 0x97 (--delayed-max-pending reached); MQTT 3.1.1 gets its PUBACK, and the
// message is not stored, counted in swallow_delayed_refused_total and logged once.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker } from '../../helpers/broker.js'
import { connect } from '../../helpers/mqtt.js'
import { publish, raw5, reasonOf, receivedOf, stillUp, waitCount } from '../../helpers/raw5.js'
import { api, metric, waitMetric } from './delayed-helpers.js'

test('MQTT 5: 0x83 for a malformed or too long delay, 0x97 beyond --delayed-max-pending; the connection stays up', async () => {
  const broker = await startBroker({ storage: 'memory', args: ['--delayed-max', '5s', '--delayed-max-pending', '2', '--sys-interval', 'off'] })
  try {
    const c = await raw5(broker.mqttPort)
    const cases: Array<[string, number]> = [
      ['$delayed/abc/t', 0x83], ['$delayed/1.5/t', 0x83], ['$delayed/-1/t', 0x83], ['$delayed/5', 0x83], ['$delayed/5/', 0x83],
      ['$delayed/5/$app/x', 0x83], ['$delayed//t', 0x83], ['$delayed/6/t', 0x83],
      ['$delayed/5/t', 0], ['$delayed/0/later-is-now', 0]
    ]
    for (let i = 0; i < cases.length; i++) {
      c.send(publish(cases[i][0], i + 1, `m${i}`, 1))
      await waitCount(c, 'puback', i + 1)
    }
    assert.deepEqual(cases.map((_, i) => reasonOf(receivedOf(c, 'puback', i + 1)[0])), cases.map(([, code]) => code))
    await stillUp(c)
    assert.equal(await metric(broker.httpUrl, 'swallow_delayed_refused_total{reason="malformed"}'), 7)
    assert.equal(await metric(broker.httpUrl, 'swallow_delayed_refused_total{reason="too_long"}'), 1)
    assert.equal(await metric(broker.httpUrl, 'swallow_delayed_refused_total{reason="pending_full"}'), 0)
    // The one with delay 0 is published at once and frees its place: one more fits, then no more.
    await waitMetric(broker.httpUrl, 'swallow_delayed_published_total', 1)
    c.send(publish('$delayed/5/u', 99, 'third', 1))
    c.send(publish('$delayed/5/v', 100, 'fourth', 1))
    await waitCount(c, 'puback', cases.length + 2)
    assert.equal(reasonOf(receivedOf(c, 'puback', 99)[0]), 0)
    assert.equal(reasonOf(receivedOf(c, 'puback', 100)[0]), 0x97)
    assert.equal(await metric(broker.httpUrl, 'swallow_delayed_refused_total{reason="pending_full"}'), 1)
    assert.equal((await api(`${broker.httpUrl}/api/delayed`)).body.pending, 2)
    c.socket.destroy()
  } finally {
    await broker.stop()
  }
})

test('MQTT 3.1.1: a malformed delay is acknowledged, not stored, counted, and logged once', async () => {
  const broker = await startBroker({ storage: 'memory', args: ['--sys-interval', 'off'] })
  try {
    const pub = await connect(broker.mqttUrl)
    for (let i = 0; i < 5; i++) await pub.publishAsync('$delayed/soon/t', `m${i}`, { qos: 1 })
    await pub.publishAsync('$delayed/999999999/t', 'too long', { qos: 1 })
    assert.equal(await metric(broker.httpUrl, 'swallow_delayed_refused_total{reason="malformed"}'), 5)
    assert.equal(await metric(broker.httpUrl, 'swallow_delayed_refused_total{reason="too_long"}'), 1)
    assert.equal((await api(`${broker.httpUrl}/api/delayed`)).body.pending, 0)
    const lines = broker.logs.filter(l => String(l.msg).startsWith('delayed PUBLISH refused: the delay is not a whole number'))
    assert.equal(lines.length, 1, 'logged once')
    assert.equal(lines[0].clientId, pub.options.clientId)
    assert.ok(pub.connected)
    await pub.endAsync()
  } finally {
    await broker.stop()
  }
})


test('QoS 2: a retransmission of a delayed PUBLISH before its PUBREL is answered and not stored again (published once)', async () => {
  const broker = await startBroker({ storage: 'memory', args: ['--sys-interval', 'off'] })
  try {
    const c = await raw5(broker.mqttPort)
    c.send(publish('$delayed/1/q2/x', 7, 'exactly once', 2))
    await waitCount(c, 'pubrec', 1)
    c.send(publish('$delayed/1/q2/x', 7, 'exactly once', 2, true))
    await waitCount(c, 'pubrec', 2)
    assert.equal((await api(`${broker.httpUrl}/api/delayed`)).body.pending, 1)
    c.send({ cmd: 'pubrel', messageId: 7 })
    await waitCount(c, 'pubcomp', 1)
    c.socket.destroy()
  } finally {
    await broker.stop()
  }
})
