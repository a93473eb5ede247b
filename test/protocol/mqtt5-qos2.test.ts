// QoS 2 on MQTT 5 end to end, against a real broker process: both halves of the exchange
// (publisher -> broker, broker -> subscriber), retransmissions with DUP, and a persistent
// subscriber's delivery in flight across reconnects and a kill -9 of the broker (embedded
// storage). MQTT.js where a real client shows the flow; raw packets (test/helpers/raw5.ts)
// where the test must stop in the middle of an exchange.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { IPublishPacket, MqttClient } from 'mqtt'
import type { IConnackPacket, IConnectPacket, Packet } from 'mqtt-packet'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { collectPackets, connect5 } from '../helpers/mqtt.js'
import { idOf, payloadOf, publish, raw5, reasonOf, receivedOf, stillUp, waitCount, type Raw5 } from '../helpers/raw5.js'
import { tempDir, waitFor } from '../helpers/system.js'

const PROPERTIES = {
  payloadFormatIndicator: true,
  messageExpiryInterval: 600,
  contentType: 'text/plain',
  responseTopic: 'q2/reply',
  correlationData: Buffer.from([7, 8, 9]),
  userProperties: { first: '1', second: ['a', 'b'] }
}

/** The QoS 2 packets a client sends and receives, in order: 'sent publish', 'got pubrec', ... */
function qos2Flow (client: MqttClient): string[] {
  const flow: string[] = []
  const QOS2 = ['publish', 'pubrec', 'pubrel', 'pubcomp']
  client.on('packetsend', p => { if (QOS2.includes(p.cmd)) flow.push(`sent ${p.cmd}`) })
  client.on('packetreceive', p => { if (QOS2.includes(p.cmd)) flow.push(`got ${p.cmd}`) })
  return flow
}

function assertProperties (p: IPublishPacket['properties'] | undefined): void {
  assert.equal(p?.payloadFormatIndicator, true)
  assert.ok(p?.messageExpiryInterval !== undefined && p.messageExpiryInterval <= 600 && p.messageExpiryInterval >= 590)
  assert.equal(p?.contentType, 'text/plain')
  assert.equal(p?.responseTopic, 'q2/reply')
  assert.deepEqual(Buffer.from(p?.correlationData as Buffer), Buffer.from([7, 8, 9]))
  assert.deepEqual({ ...p?.userProperties }, { first: '1', second: ['a', 'b'] })
}

const sessionPresent = (c: Raw5): boolean => (c.received[0] as IConnackPacket).sessionPresent

/** A persistent subscriber's raw connection: the first one subscribes to `topic` at QoS 2. */
function persistentSubscriber (port: () => number, clientId: string, topic: string): { connect: () => Promise<Raw5>, reconnect: () => Promise<Raw5> } {
  const fields: Partial<IConnectPacket> = { clientId, properties: { sessionExpiryInterval: 3600 } }
  return {
    async connect () {
      const c = await raw5(port(), fields)
      c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 2 }] })
      await c.next(p => p.cmd === 'suback', 'SUBACK')
      return c
    },
    async reconnect () {
      const c = await raw5(port(), { ...fields, clean: false })
      assert.equal(sessionPresent(c), true)
      return c
    }
  }
}

/** Packets of these types, as 'cmd id payload' lines, for comparing what a connection got. */
const lines = (c: Raw5, ...cmds: Array<Packet['cmd']>): string[] =>
  c.received.filter(p => cmds.includes(p.cmd)).map(p => `${p.cmd} ${idOf(p)} ${payloadOf(p)}`.trim())

describe('QoS 2 on MQTT 5 (embedded storage)', () => {
  let broker: BrokerProcess
  before(async () => { broker = await startBroker() })
  after(async () => { await broker.stop() })

  test('QoS 2 from an MQTT 5 publisher to an MQTT 5 subscriber: PUBREC, PUBREL and PUBCOMP on both sides, the properties intact, delivered exactly once', async () => {
    const sub = await connect5(broker.mqttUrl)
    const got = collectPackets(sub)
    const subFlow = qos2Flow(sub)
    await sub.subscribeAsync('q2/e2e/#', { qos: 2 })
    const pub = await connect5(broker.mqttUrl)
    const pubFlow = qos2Flow(pub)
    await pub.publishAsync('q2/e2e/x', 'exactly once', { qos: 2, properties: PROPERTIES })
    await waitFor(() => subFlow.includes('sent pubcomp'), 5000, 'the subscriber\'s PUBCOMP')
    assert.deepEqual(pubFlow, ['sent publish', 'got pubrec', 'sent pubrel', 'got pubcomp'])
    assert.deepEqual(subFlow, ['got publish', 'sent pubrec', 'got pubrel', 'sent pubcomp'])
    await pub.publishAsync('q2/e2e/end', 'sentinel', { qos: 2 })
    await waitFor(() => got.some(p => p.topic === 'q2/e2e/end'), 5000, 'the sentinel')
    assert.deepEqual(got.map(p => [p.topic, p.payload.toString(), p.qos]), [['q2/e2e/x', 'exactly once', 2], ['q2/e2e/end', 'sentinel', 2]])
    assertProperties(got[0].properties)
    await Promise.all([sub.endAsync(), pub.endAsync()])
  })

  test('a QoS 2 PUBLISH retransmitted with DUP before PUBREL is delivered once (a persistent publisher\'s also after a reconnect); after PUBCOMP its packet id starts a new message (MQTT-4.3.3-9)', async () => {
    const sub = await connect5(broker.mqttUrl)
    const got = collectPackets(sub)
    await sub.subscribeAsync('q2/dup/#', { qos: 2 })
    for (const kind of ['clean', 'persistent']) {
      const fields: Partial<IConnectPacket> = { clientId: `q2-dup-${kind}`, properties: { sessionExpiryInterval: kind === 'clean' ? 0 : 60 } }
      const topic = `q2/dup/${kind}`
      let c = await raw5(broker.mqttPort, fields)
      c.send(publish(topic, 9, `${kind}-first`))
      await waitCount(c, 'pubrec', 1)
      c.send(publish(topic, 9, `${kind}-first`, 2, true))
      await waitCount(c, 'pubrec', 2)
      if (kind === 'persistent') {
        // The PUBREC may be lost with the connection: the retransmission comes on the next one.
        c.socket.destroy()
        c = await raw5(broker.mqttPort, { ...fields, clean: false })
        assert.equal(sessionPresent(c), true)
        c.send(publish(topic, 9, `${kind}-first`, 2, true))
        await waitCount(c, 'pubrec', 1)
      }
      c.send({ cmd: 'pubrel', messageId: 9 })
      assert.equal(reasonOf(await c.next(p => p.cmd === 'pubcomp', 'PUBCOMP')), 0)
      c.send(publish(topic, 9, `${kind}-second`))
      await waitFor(() => receivedOf(c, 'pubrec').length === (kind === 'clean' ? 3 : 2), 5000, 'the PUBREC of the new message')
      c.send({ cmd: 'pubrel', messageId: 9 })
      await waitCount(c, 'pubcomp', 2)
      assert.deepEqual(receivedOf(c, 'pubcomp').map(reasonOf), [0, 0], kind)
      c.socket.destroy()
    }
    await sub.publishAsync('q2/dup/end', 'sentinel', { qos: 2 })
    await waitFor(() => got.some(p => p.payload.toString() === 'sentinel'), 5000, 'the sentinel')
    assert.deepEqual(got.map(p => p.payload.toString()), ['clean-first', 'clean-second', 'persistent-first', 'persistent-second', 'sentinel'])
    await sub.endAsync()
  })

  test('a persistent MQTT 5 subscriber that goes away with a QoS 2 delivery in flight gets it again after reconnecting (DUP, same packet id), then its PUBREL again, then nothing more (MQTT-4.4.0-1)', async () => {
    const session = persistentSubscriber(() => broker.mqttPort, 'q2-away', 'q2/away/#')
    let sub = await session.connect()
    const pub = await connect5(broker.mqttUrl)
    await pub.publishAsync('q2/away/x', 'in flight', { qos: 2, properties: PROPERTIES })
    const first = await sub.next(p => p.cmd === 'publish', 'the delivery') as IPublishPacket
    assert.equal(first.dup, false)
    sub.socket.destroy() // without PUBREC

    sub = await session.reconnect()
    const again = await sub.next(p => p.cmd === 'publish', 'the delivery again') as IPublishPacket
    assert.deepEqual([again.dup, again.messageId, again.qos, again.payload.toString()], [true, first.messageId, 2, 'in flight'])
    assertProperties(again.properties)
    sub.send({ cmd: 'pubrec', messageId: first.messageId })
    await sub.next(p => p.cmd === 'pubrel', 'PUBREL')
    sub.socket.destroy() // without PUBCOMP

    sub = await session.reconnect()
    await sub.next(p => p.cmd === 'pubrel', 'the PUBREL again')
    sub.send({ cmd: 'pubcomp', messageId: first.messageId })
    await stillUp(sub)
    assert.deepEqual(lines(sub, 'publish', 'pubrel'), [`pubrel ${first.messageId}`], 'the PUBREL, not the message')
    sub.socket.destroy()

    sub = await session.reconnect()
    await pub.publishAsync('q2/away/end', 'sentinel', { qos: 1 })
    await sub.next(p => payloadOf(p) === 'sentinel', 'the sentinel')
    assert.equal(lines(sub, 'publish', 'pubrel').length, 1, 'only the sentinel')
    sub.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } })
    await pub.endAsync()
  })
})

test('kill -9 of the broker keeps a QoS 2 delivery\'s state: the message again before the PUBREC, the PUBREL again after it (embedded storage)', async () => {
  const dir = tempDir()
  let broker = await startBroker({ dataDir: dir.path })
  const restart = async (): Promise<void> => {
    await broker.crash()
    broker = await startBroker({ dataDir: dir.path })
  }
  try {
    const session = persistentSubscriber(() => broker.mqttPort, 'q2-crash', 'q2/crash/#')
    let sub = await session.connect()
    const pub = await connect5(broker.mqttUrl)
    await pub.publishAsync('q2/crash/x', 'survives', { qos: 2, properties: PROPERTIES })
    await pub.endAsync()
    const first = await sub.next(p => p.cmd === 'publish', 'the delivery') as IPublishPacket
    await restart()

    sub = await session.reconnect()
    const again = await sub.next(p => p.cmd === 'publish', 'the delivery after the restart') as IPublishPacket
    assert.deepEqual([again.dup, again.messageId, again.payload.toString()], [true, first.messageId, 'survives'])
    assertProperties(again.properties)
    sub.send({ cmd: 'pubrec', messageId: first.messageId })
    await sub.next(p => p.cmd === 'pubrel', 'PUBREL')
    await restart()

    sub = await session.reconnect()
    await sub.next(p => p.cmd === 'pubrel', 'the PUBREL after the restart')
    sub.send({ cmd: 'pubcomp', messageId: first.messageId })
    await stillUp(sub)
    assert.deepEqual(lines(sub, 'publish', 'pubrel'), [`pubrel ${first.messageId}`], 'the PUBREL, not the message')
    sub.socket.destroy()

    sub = await session.reconnect()
    const sentinel = await connect5(broker.mqttUrl)
    await sentinel.publishAsync('q2/crash/end', 'sentinel', { qos: 1 })
    await sub.next(p => payloadOf(p) === 'sentinel', 'the sentinel')
    assert.equal(lines(sub, 'publish', 'pubrel').length, 1, 'only the sentinel')
    sub.socket.destroy()
    await sentinel.endAsync()
  } finally {
    await broker.stop()
    dir.remove()
  }
})

for (const storage of ['embedded', 'memory'] as const) {
  test(`Message Expiry across a reconnect: a QoS 2 delivery in flight is sent again though it expired (MQTT-4.3.3-7), a queued one that expired is not sent (MQTT-3.3.2-5) (${storage} storage)`, async () => {
    const broker = await startBroker({ storage })
    try {
      // Receive Maximum 1: the second message stays queued behind the first.
      const fields: Partial<IConnectPacket> = { clientId: `q2-expiry-${storage}`, properties: { sessionExpiryInterval: 3600, receiveMaximum: 1 } }
      const sub = await raw5(broker.mqttPort, fields)
      sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q2/expiry/#', qos: 2 }] })
      await sub.next(p => p.cmd === 'suback', 'SUBACK')
      const pub = await connect5(broker.mqttUrl)
      await pub.publishAsync('q2/expiry/x', 'sent', { qos: 2, properties: { messageExpiryInterval: 1 } })
      await pub.publishAsync('q2/expiry/x', 'queued', { qos: 2, properties: { messageExpiryInterval: 1 } })
      const published = Date.now()
      const first = await sub.next(p => payloadOf(p) === 'sent', 'the first delivery') as IPublishPacket
      sub.socket.destroy() // without PUBREC
      await waitFor(() => Date.now() > published + 1100, 5000, 'both messages to expire')

      const again = await raw5(broker.mqttPort, { ...fields, clean: false })
      const resent = await again.next(p => p.cmd === 'publish', 'the delivery again') as IPublishPacket
      assert.deepEqual([resent.dup, resent.messageId, resent.payload.toString()], [true, first.messageId, 'sent'])
      assert.equal(resent.properties?.messageExpiryInterval, 1, 'no time left, but still an expiring message')
      again.send({ cmd: 'pubrec', messageId: first.messageId })
      await again.next(p => p.cmd === 'pubrel', 'PUBREL')
      again.send({ cmd: 'pubcomp', messageId: first.messageId })
      await pub.publishAsync('q2/expiry/end', 'sentinel', { qos: 1 })
      await again.next(p => payloadOf(p) === 'sentinel', 'the sentinel')
      assert.deepEqual(receivedOf(again, 'publish').map(payloadOf), ['sent', 'sentinel'])
      again.socket.destroy()
      await pub.endAsync()
    } finally {
      await broker.stop()
    }
  })
}
