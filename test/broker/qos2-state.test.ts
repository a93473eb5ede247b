// Where QoS 2 in-flight state lives. Aedes delivers a QoS 2 PUBLISH when it arrives and keeps
// its packet id until PUBREL, so that a retransmission is not delivered twice. Persistent
// sessions keep that state in storage (it survives kill -9); clean sessions keep it in
// memory, and it ends with the connection as MQTT says (MQTT-3.1.2-6).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqttPacket from 'mqtt-packet'
import { startBroker } from '../helpers/broker.js'
import { connectCollecting } from '../helpers/mqtt.js'
import { rawSession, type RawSession } from '../helpers/raw.js'
import { tempDir, waitFor } from '../helpers/system.js'

const qos2Publish = (messageId: number, payload: string, dup = false): Buffer =>
  mqttPacket.generate({ cmd: 'publish', topic: 'plant/valve', payload, qos: 2, messageId, dup, retain: false })
const pubrel = (messageId: number): Buffer => mqttPacket.generate({ cmd: 'pubrel', messageId })
const count = (s: RawSession, cmd: string): number => s.received.filter(p => p.cmd === cmd).length

test('a persistent session\'s QoS 2 state survives kill -9: the retransmission is not delivered again', async () => {
  const dir = tempDir()
  let broker = await startBroker({ dataDir: dir.path })
  try {
    const pub = await rawSession(broker.mqttPort, 'valve-ctl', false)
    pub.socket.write(qos2Publish(21, 'open'))
    await waitFor(() => count(pub, 'pubrec') === 1, 5000, 'PUBREC')
    await broker.crash()
    pub.socket.destroy()
    broker = await startBroker({ dataDir: dir.path })
    const { client: sub, got } = await connectCollecting(broker.mqttUrl)
    await sub.subscribeAsync('plant/#', { qos: 2 })
    // the PUBREC was lost with the connection: the device retransmits, then releases
    const again = await rawSession(broker.mqttPort, 'valve-ctl', false)
    again.socket.write(qos2Publish(21, 'open', true))
    await waitFor(() => count(again, 'pubrec') === 1, 5000, 'PUBREC of the retransmission')
    again.socket.write(pubrel(21))
    again.socket.write(qos2Publish(22, 'close'))
    await waitFor(() => count(again, 'pubcomp') === 1 && count(again, 'pubrec') === 2, 5000, 'PUBCOMP and the next PUBREC')
    // 'close' follows the retransmission on the same connection: once it is here, a second 'open' would be too.
    await waitFor(() => got.some(m => m.payload === 'close'), 5000, 'the next message')
    assert.deepEqual(got.map(m => m.payload), ['close'], 'the retransmitted message was already delivered before the crash')
    again.socket.destroy()
    await sub.endAsync()
  } finally {
    await broker.stop()
    dir.remove()
  }
})

test('a clean session\'s QoS 2 state is kept in memory while connected and ends with the connection', async () => {
  const broker = await startBroker()
  try {
    const { client: sub, got } = await connectCollecting(broker.mqttUrl)
    await sub.subscribeAsync('plant/#', { qos: 2 })
    const pub = await rawSession(broker.mqttPort, 'valve-clean', true)
    pub.socket.write(qos2Publish(1, 'one'))
    await waitFor(() => count(pub, 'pubrec') === 1, 5000, 'PUBREC')
    pub.socket.write(qos2Publish(1, 'one', true))
    await waitFor(() => count(pub, 'pubrec') === 2, 5000, 'PUBREC of the retransmission')
    pub.socket.write(pubrel(1))
    await waitFor(() => count(pub, 'pubcomp') === 1, 5000, 'PUBCOMP')
    // A last message on the same connection: once it is here, a second 'one' would be too.
    pub.socket.write(mqttPacket.generate({ cmd: 'publish', topic: 'plant/sentinel', payload: Buffer.from('sentinel'), qos: 0, retain: false, dup: false }))
    await waitFor(() => got.some(m => m.payload === 'sentinel'), 5000, 'the sentinel')
    got.splice(got.findIndex(m => m.payload === 'sentinel'), 1)
    assert.deepEqual(got.map(m => m.payload), ['one'], 'a retransmission on the same connection is delivered once')

    // PUBREC'd, then the connection ends: a clean session's state ends with it, so the
    // retransmission on the new session is a new message (as with Mosquitto)
    pub.socket.write(qos2Publish(2, 'two'))
    await waitFor(() => count(pub, 'pubrec') === 2 + 1, 5000, 'third PUBREC')
    pub.socket.destroy()
    const again = await rawSession(broker.mqttPort, 'valve-clean', true)
    again.socket.write(qos2Publish(2, 'two', true))
    await waitFor(() => count(again, 'pubrec') === 1, 5000, 'PUBREC on the new session')
    again.socket.write(pubrel(2))
    await waitFor(() => count(again, 'pubcomp') === 1, 5000, 'PUBCOMP')
    await waitFor(() => got.length === 3, 5000, 'the retransmission')
    assert.deepEqual(got.map(m => m.payload), ['one', 'two', 'two'])
    again.socket.destroy()
    await sub.endAsync()
  } finally {
    await broker.stop()
  }
})

test('a persistent subscriber\'s PUBREL waiting for PUBCOMP is sent again after a reconnect, not the message', async () => {
  const broker = await startBroker()
  try {
    const sub = await rawSession(broker.mqttPort, 'valve-watch', false)
    sub.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'plant/#', qos: 2 }] }))
    await waitFor(() => count(sub, 'suback') === 1, 5000, 'SUBACK')
    const { client: pub } = await connectCollecting(broker.mqttUrl)
    await pub.publishAsync('plant/valve', 'open', { qos: 2 })
    await waitFor(() => count(sub, 'publish') === 1, 5000, 'the delivery')
    const { messageId } = sub.received.find(p => p.cmd === 'publish') as { messageId: number }
    sub.socket.write(mqttPacket.generate({ cmd: 'pubrec', messageId }))
    await waitFor(() => count(sub, 'pubrel') === 1, 5000, 'PUBREL')
    sub.socket.destroy() // without PUBCOMP
    const again = await rawSession(broker.mqttPort, 'valve-watch', false)
    await waitFor(() => count(again, 'pubrel') === 1, 5000, 'the PUBREL again')
    assert.deepEqual(again.received.filter(p => p.cmd === 'publish' || p.cmd === 'pubrel').map(p => [p.cmd, p.messageId]), [['pubrel', messageId]])
    again.socket.write(mqttPacket.generate({ cmd: 'pubcomp', messageId }))
    again.socket.write(mqttPacket.generate({ cmd: 'pingreq' }))
    await waitFor(() => count(again, 'pingresp') === 1, 5000, 'PINGRESP: the connection stays up')
    again.socket.destroy()
    await pub.endAsync()
  } finally {
    await broker.stop()
  }
})
