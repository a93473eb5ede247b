// The CONNECT of a clean session runs as Swallow's straight-line code (src/clean-connect.ts),
// not Aedes's handler: the session rules it must keep, on every storage kind.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as tcpConnect } from 'node:net'
import mqttPacket from 'mqtt-packet'
import { startBroker, type BrokerOptions } from '../helpers/broker.js'
import { connect, connectCollecting, sentinel } from '../helpers/mqtt.js'
import { exchange, rawSession } from '../helpers/raw.js'
import { tempDir, waitFor } from '../helpers/system.js'

const storages: Array<BrokerOptions['storage']> = ['embedded', 'memory']

for (const storage of storages) {
  test(`${storage}: a clean CONNECT discards what an earlier persistent session of the id left (MQTT-3.1.2-6), also after a restart`, async () => {
    const dir = tempDir()
    let broker = await startBroker({ storage, dataDir: dir.path })
    try {
      const device = await connect(broker.mqttUrl, { clientId: 'meter-7', clean: false })
      await device.subscribeAsync('meter/7/cmd', { qos: 1 })
      await device.endAsync()
      const pub = await connect(broker.mqttUrl)
      await pub.publishAsync('meter/7/cmd', 'queued-1', { qos: 1 })
      if (storage === 'embedded') { // the index of stored sessions is read back from disk
        await broker.stop()
        broker = await startBroker({ storage, dataDir: dir.path })
      }
      const { client: clean, got } = await connectCollecting(broker.mqttUrl, { clientId: 'meter-7', clean: true })
      await clean.subscribeAsync('sentinel/meter-7', { qos: 1 })
      const cleanPub = await connect(broker.mqttUrl)
      await cleanPub.publishAsync('meter/7/cmd', 'live', { qos: 1 })
      // Queued messages come right after the CONNACK, 'live' before the sentinel.
      await sentinel(cleanPub, got, 'sentinel/meter-7')
      assert.deepEqual(got, [], 'neither the queued message nor the old subscription survives a clean CONNECT')
      await clean.endAsync()
      // The id comes back persistent: the old session is gone (session present 0, nothing queued).
      const back = await rawSession(broker.mqttPort, 'meter-7', false)
      // Queued messages would follow the CONNACK, before the SUBACK and the sentinel after it.
      back.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sentinel/back', qos: 0 }] }))
      await waitFor(() => back.received.some(p => p.cmd === 'suback'), 5000, 'SUBACK')
      await cleanPub.publishAsync('sentinel/back', 'sentinel', { qos: 0 })
      await waitFor(() => back.received.some(p => p.cmd === 'publish' && p.topic === 'sentinel/back'), 5000, 'the sentinel')
      const connack = back.received.find(p => p.cmd === 'connack') as mqttPacket.IConnackPacket
      assert.equal(connack.sessionPresent, false)
      assert.deepEqual(back.received.filter(p => p.cmd === 'publish' && p.topic !== 'sentinel/back'), [])
      back.socket.destroy()
      await Promise.all([pub.endAsync(), cleanPub.endAsync()])
    } finally {
      await broker.stop()
      dir.remove()
    }
  })
}

test('a second clean connection with the same client id takes over the first (MQTT-3.1.4-2), whose will is published', async () => {
  const broker = await startBroker()
  try {
    const { client: watcher, got } = await connectCollecting(broker.mqttUrl)
    await watcher.subscribeAsync('status/#', { qos: 1 })
    const first = await connect(broker.mqttUrl, { clientId: 'pump-3', reconnectPeriod: 0, will: { topic: 'status/pump-3', payload: Buffer.from('gone'), qos: 1, retain: false } })
    const closed = new Promise<void>(resolve => first.once('close', () => resolve()))
    const second = await connect(broker.mqttUrl, { clientId: 'pump-3' })
    await closed
    await waitFor(() => got.length === 1, 5000, 'the will of the first connection')
    assert.deepEqual(got.map(m => m.payload), ['gone'])
    await second.publishAsync('status/pump-3', 'second works', { qos: 1 })
    await waitFor(() => got.length === 2, 5000, 'a message from the second connection')
    await Promise.all([second.endAsync(), watcher.endAsync()])
    first.end(true)
  } finally {
    await broker.stop()
  }
})

test('a client silent for 1.5x its keepalive is disconnected and its will is published', async () => {
  const broker = await startBroker()
  try {
    const { client: watcher, got } = await connectCollecting(broker.mqttUrl)
    await watcher.subscribeAsync('status/#')
    const socket = tcpConnect(broker.mqttPort, '127.0.0.1')
    await new Promise(resolve => socket.once('connect', resolve))
    const closedAt = new Promise<number>(resolve => socket.once('close', () => resolve(Date.now())))
    socket.on('error', () => {})
    socket.resume() // read the CONNACK and the close
    const start = Date.now()
    socket.write(mqttPacket.generate({
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 1, clientId: 'silent-1',
      will: { topic: 'status/silent-1', payload: Buffer.from('lost'), qos: 0, retain: false }
    }))
    const elapsed = (await closedAt) - start
    assert.ok(elapsed >= 1400 && elapsed < 4000, `closed after ${elapsed} ms, expected about 1.5 s`)
    await waitFor(() => got.length === 1, 5000, 'the will')
    assert.equal(got[0].payload, 'lost')
    await watcher.endAsync()
  } finally {
    await broker.stop()
  }
})

test('packets sent in the same write as CONNECT are each answered, after the CONNACK', async () => {
  const broker = await startBroker()
  try {
    const bytes = Buffer.concat([
      mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId: 'eager-1' }),
      mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'eager/+', qos: 1 }] }),
      mqttPacket.generate({ cmd: 'publish', topic: 'eager/1', payload: 'a', qos: 1, messageId: 2, retain: false, dup: false }),
      mqttPacket.generate({ cmd: 'pingreq' })
    ])
    const outcome = await exchange(broker.mqttPort, [bytes], 4)
    // As with Aedes's own handler, the QoS 1 PUBLISH may be answered before the SUBSCRIBE
    // (different packet types; MQTT orders acknowledgements per type, MQTT-4.6.0-2).
    assert.equal(outcome.packets[0], 'connack:0')
    assert.deepEqual(outcome.packets.filter(p => p !== 'publish').slice(1).sort(), ['pingresp', 'puback', 'suback:1'])
    assert.equal(outcome.closed, false)
  } finally {
    await broker.stop()
  }
})
