// MQTT 3.1.1 normative statements on the CONNECT, PUBLISH, SUBSCRIBE, UNSUBSCRIBE, PINGREQ
// and DISCONNECT paths, sent as raw bytes. docs/CONFORMANCE.md lists each with this test.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import mqttPacket from 'mqtt-packet'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { collect, connect, sentinel } from '../helpers/mqtt.js'
import { waitFor } from '../helpers/system.js'
import { connectPacket, exchange as rawExchange, subscribePacket, type Outcome } from '../helpers/raw.js'

let broker: BrokerProcess
// Many of these tests end a connection on purpose: every warning line is kept (a test reads one).
before(async () => { broker = await startBroker({ storage: 'memory', args: ['--sys-interval', 'off', '--log-repeat-limit', '1000'] }) })
after(async () => { await broker.stop() })

const exchange = (bytes: Buffer[], answers?: number): Promise<Outcome> => rawExchange(broker.mqttPort, bytes, answers)

const CONNECT = connectPacket('conf')
/** A CONNECT for MQTT 3.1.1 with these connect flags and payload bytes. */
const rawConnect = (flags: number, payload: number[], level = 4): Buffer =>
  Buffer.from([0x10, 10 + payload.length, 0, 4, 0x4d, 0x51, 0x54, 0x54, level, flags, 0, 30, ...payload])
const rawPublish = (topic: Buffer, header = 0x30): Buffer =>
  Buffer.concat([Buffer.from([header, 2 + topic.length + 2, 0, topic.length]), topic, Buffer.from('hi')])

const closes: Array<[string, Buffer[]]> = [
  ['MQTT-3.1.0-1: a first packet that is not CONNECT', [Buffer.from([0xc0, 0])]],
  ['MQTT-3.1.0-2: a second CONNECT', [CONNECT, CONNECT]],
  ['MQTT-3.1.2-1: protocol name other than MQTT', [Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x58, 4, 2, 0, 30, 0, 0])]],
  ['MQTT-3.1.2-3: CONNECT reserved flag set', [rawConnect(0x03, [0, 1, 0x61])]],
  ['MQTT-3.1.2-11: will QoS without will flag', [rawConnect(0x0a, [0, 1, 0x61])]],
  ['MQTT-3.1.2-22: password without user name', [rawConnect(0x42, [0, 1, 0x61, 0, 0])]],
  ['MQTT-1.5.3-1: client id that is not UTF-8', [rawConnect(0x02, [0, 2, 0xff, 0xfe])]],
  ['MQTT-1.5.3-1: user name that is not UTF-8', [rawConnect(0x82, [0, 1, 0x61, 0, 2, 0xff, 0xfe])]],
  ['MQTT-1.5.3-1: PUBLISH topic that is not UTF-8', [CONNECT, rawPublish(Buffer.from([0x61, 0xff, 0xfe]))]],
  ['MQTT-1.5.3-2: U+0000 in a PUBLISH topic', [CONNECT, rawPublish(Buffer.from([0x61, 0x00, 0x62]))]],
  ['MQTT-3.3.2-2: wildcard # in a PUBLISH topic', [CONNECT, rawPublish(Buffer.from('a/#'))]],
  ['MQTT-3.3.2-2: wildcard + in a PUBLISH topic', [CONNECT, rawPublish(Buffer.from('a/+/b'))]],
  ['MQTT-4.7.3-1: empty PUBLISH topic', [CONNECT, rawPublish(Buffer.alloc(0))]],
  ['MQTT-3.3.1-4: PUBLISH with both QoS bits set', [CONNECT, Buffer.from([0x36, 5, 0, 1, 0x61, 0, 1])]],
  ['MQTT-2.3.1-1: QoS 1 PUBLISH with packet identifier 0', [CONNECT, Buffer.from([0x32, 7, 0, 1, 0x61, 0, 0, 0x68, 0x69])]],
  ['MQTT-2.2.2-2: SUBSCRIBE with reserved flags 0000', [CONNECT, Buffer.from([0x80, 6, 0, 1, 0, 1, 0x61, 0])]],
  ['MQTT-2.3.1-1: SUBSCRIBE with packet identifier 0', [CONNECT, Buffer.from([0x82, 6, 0, 0, 0, 1, 0x61, 0])]],
  ['MQTT-3.8.3-3: SUBSCRIBE without a topic filter', [CONNECT, Buffer.from([0x82, 2, 0, 1])]],
  ['MQTT-3.8.3-4: SUBSCRIBE requesting QoS 3', [CONNECT, Buffer.from([0x82, 6, 0, 1, 0, 1, 0x61, 3])]],
  ['MQTT-4.7.1-2: SUBSCRIBE to the invalid filter a/#/b', [CONNECT, Buffer.from([0x82, 10, 0, 1, 0, 5, 0x61, 0x2f, 0x23, 0x2f, 0x62, 0])]],
  ['MQTT-2.2.2-2: UNSUBSCRIBE with reserved flags 0000', [CONNECT, Buffer.from([0xa0, 5, 0, 1, 0, 1, 0x61])]],
  ['MQTT-3.10.3-2: UNSUBSCRIBE without a topic filter', [CONNECT, Buffer.from([0xa2, 2, 0, 1])]],
  ['MQTT-2.2.2-2: PUBREL with reserved flags 0000', [CONNECT, Buffer.from([0x60, 2, 0, 1])]],
  ['MQTT-2.2.2-2: DISCONNECT with reserved flags set', [CONNECT, Buffer.from([0xe1, 0])]],
  ['MQTT-2.2.3: remaining length longer than 4 bytes', [CONNECT, Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])]]
]

for (const [statement, bytes] of closes) {
  test(`${statement}: the connection is closed`, async () => {
    const outcome = await exchange(bytes)
    assert.equal(outcome.closed, true, `still open after ${outcome.packets.join(',')}`)
    assert.ok(!outcome.packets.some(p => p.startsWith('puback') || p.startsWith('suback') || p.startsWith('unsuback')), `nothing acknowledged: ${outcome.packets.join(',')}`)
  })
}

test('MQTT-3.1.2-2: an unsupported protocol level gets CONNACK 0x01, then the connection closes', async () => {
  // Level 5 (MQTT 5.0) is supported: test/protocol/mqtt5.test.ts.
  for (const level of [2, 6]) {
    const outcome = await exchange([rawConnect(0x02, [0, 0], level)])
    assert.deepEqual(outcome, { packets: ['connack:1'], closed: true }, `level ${level}`)
  }
})

test('MQTT-3.1.3-8: an empty client id with clean session 0 gets CONNACK 0x02', async () => {
  assert.deepEqual(await exchange([rawConnect(0x00, [0, 0])]), { packets: ['connack:2'], closed: true })
})

test('MQTT-3.1.3-6/7: an empty client id with clean session 1 is accepted', async () => {
  assert.deepEqual((await exchange([rawConnect(0x02, [0, 0])])).packets, ['connack:0'])
})

test('MQTT-3.12.4-1: PINGREQ gets PINGRESP', async () => {
  assert.deepEqual(await exchange([CONNECT, Buffer.from([0xc0, 0])], 2), { packets: ['connack:0', 'pingresp'], closed: false })
})

test('MQTT-3.14.4-1/3: DISCONNECT closes the connection and the will is not published', async () => {
  const watcher = await connect(broker.mqttUrl)
  const wills = collect(watcher)
  await watcher.subscribeAsync('conf/will')
  const withWill = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId: 'conf-will', will: { topic: 'conf/will', payload: Buffer.from('gone'), qos: 0, retain: false } })
  const outcome = await exchange([withWill, Buffer.from([0xe0, 0])])
  assert.deepEqual(outcome, { packets: ['connack:0'], closed: true })
  await sentinel(watcher, wills, 'conf/will')
  assert.deepEqual(wills, [])
  await watcher.endAsync()
})

test('MQTT-3.8.4-3: a SUBSCRIBE with several filters gets one SUBACK return code per filter', async () => {
  const sub = subscribePacket(7, [{ topic: 'a/+', qos: 0 }, { topic: 'b/#', qos: 1 }, { topic: 'c', qos: 2 }])
  assert.deepEqual((await exchange([CONNECT, sub], 2)).packets, ['connack:0', 'suback:0,1,2'])
})

test('malformed input closes only that connection: a QoS 1 stream on another one is unaffected, and errors are counted', async () => {
  const sub = await connect(broker.mqttUrl)
  const pub = await connect(broker.mqttUrl)
  try {
    const got: string[] = []
    sub.on('message', (_t, p) => got.push(p.toString()))
    await sub.subscribeAsync('healthy/#', { qos: 1 })
    const stream = (async () => { for (let i = 0; i < 300; i++) await pub.publishAsync('healthy/x', `m${i}`, { qos: 1 }) })()
    await Promise.all(closes.map(([, bytes]) => exchange(bytes)))
    await stream
    await waitFor(() => got.length === 300, 5000, '300 messages')
    assert.deepEqual(got, Array.from({ length: 300 }, (_, i) => `m${i}`))
    const metrics = await (await fetch(`${broker.httpUrl}/metrics`)).text()
    const errors = metrics.split('\n').filter(l => l.startsWith('swallow_connection_errors_total{reason="protocol_error"}'))
    assert.ok(Number(errors[0]?.split(' ').pop()) >= 10, `protocol errors counted: ${errors.join()}`)
    assert.ok(broker.logs.some(l => l.msg === 'connection closed on error' && l.reason === 'protocol_error'), 'logged')
  } finally {
    await Promise.all([sub.endAsync(), pub.endAsync()])
  }
})
