// The PUBLISH bytes Swallow encodes itself (src/protocol/publish-bytes.ts) are exactly what
// mqtt-packet generates, at every remaining-length boundary; and a QoS 0 fan-out delivers the
// right retain flag to every subscriber.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqttPacket from 'mqtt-packet'
import { ACK_TYPES, encodeAck, encodePublish } from '../../src/protocol/publish-bytes.js'
import { startBroker } from '../helpers/broker.js'
import { connect, connectCollecting } from '../helpers/mqtt.js'
import { waitFor } from '../helpers/system.js'

test('PUBLISH bytes Swallow encodes equal mqtt-packet\'s: every QoS, flag and length boundary', () => {
  const topic = 'plant/ünit/7'
  const topicBytes = 2 + Buffer.byteLength(topic)
  for (const remaining of [topicBytes + 2, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152]) {
    for (const qos of [0, 1, 2] as const) {
      const payload = Buffer.alloc(remaining - topicBytes - (qos > 0 ? 2 : 0), 0x61)
      for (const [retain, dup] of [[false, false], [true, false], [false, true], [true, true]]) {
        if (qos === 0 && dup) continue
        const messageId = qos > 0 ? 65_535 : undefined
        const expected = mqttPacket.generate({ cmd: 'publish', topic, payload, qos, retain, dup, messageId })
        assert.ok(encodePublish(topic, payload, qos, retain, dup, messageId ?? 0).equals(expected), `length ${remaining}, qos ${qos}, retain ${retain}, dup ${dup}`)
        const expected5 = mqttPacket.generate({ cmd: 'publish', topic, payload, qos, retain, dup, messageId }, { protocolVersion: 5 })
        assert.ok(encodePublish(topic, payload, qos, retain, dup, messageId ?? 0, true).equals(expected5), `MQTT 5, length ${remaining}, qos ${qos}`)
      }
    }
  }
})

test('QoS 0 fan-out: every subscriber gets each message once, retain set only for stored retained messages', async () => {
  const broker = await startBroker()
  try {
    const pub = await connect(broker.mqttUrl)
    await pub.publishAsync('fan/status', 'kept', { qos: 1, retain: true })
    const subs = await Promise.all(Array.from({ length: 5 }, async () => {
      const s = await connectCollecting(broker.mqttUrl)
      await s.client.subscribeAsync('fan/#', { qos: 0 })
      return s
    }))
    // the retained message comes after SUBACK, from the store: wait for it (other topics may pass it)
    await waitFor(() => subs.every(s => s.got.length === 1), 5000, 'the retained message at every subscriber')
    for (let i = 0; i < 50; i++) pub.publish('fan/data', `m${i}`, { qos: 0 })
    await pub.publishAsync('fan/status', 'live', { qos: 1, retain: true })
    await pub.publishAsync('fan/end', 'sentinel', { qos: 1 })
    await waitFor(() => subs.every(s => s.got.some(m => m.payload === 'sentinel')), 5000, 'the sentinel at every subscriber')
    for (const { got } of subs) {
      assert.equal(got.length, 53, 'nothing twice')
      assert.deepEqual(got[0], { topic: 'fan/status', payload: 'kept', qos: 0, retain: true })
      assert.deepEqual(got.slice(1, 51).map(m => m.payload), Array.from({ length: 50 }, (_, i) => `m${i}`))
      assert.ok(got.slice(1).every(m => !m.retain && m.qos === 0))
    }
    await pub.endAsync()
    for (const s of subs) await s.client.endAsync()
  } finally {
    await broker.stop()
  }
})

test('acknowledgements Swallow encodes equal mqtt-packet\'s MQTT 3.1.1 ones, which MQTT 5 parsers read as success', () => {
  for (const cmd of ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const) {
    const bytes = encodeAck(ACK_TYPES[cmd] as number, 65_535)
    assert.ok(bytes.equals(mqttPacket.generate({ cmd, messageId: 65_535 })), cmd)
    const parser = mqttPacket.parser({ protocolVersion: 5 })
    let parsed: mqttPacket.Packet | null = null
    parser.on('packet', p => { parsed = p })
    parser.parse(bytes)
    assert.equal((parsed as mqttPacket.IPubackPacket | null)?.messageId, 65_535)
    assert.equal((parsed as mqttPacket.IPubackPacket | null)?.reasonCode ?? 0, 0)
  }
})
