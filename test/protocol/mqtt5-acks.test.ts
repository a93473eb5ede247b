// MQTT 5 acknowledgements against a real broker process: the broker's Receive Maximum
// (DISCONNECT 0x93), unknown packet ids (0x92), the Session Expiry Interval in DISCONNECT
// (MQTT-3.14.2-2) and refusals in a subscriber's PUBACK/PUBREC, each next to what MQTT 3.1.1
// does instead. Raw packets (test/helpers/raw5.ts): a client library would not misbehave on
// purpose. QoS 2 end to end is in mqtt5-qos2.test.ts.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { IConnackPacket, IConnectPacket, Packet } from 'mqtt-packet'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { idOf, payloadOf, publish, raw5, rawMqtt, reasonOf, receivedOf, stillUp, waitCount, type Raw5 } from '../helpers/raw5.js'
import { waitFor } from '../helpers/system.js'

/** Both kinds of MQTT 5 session: nothing stored, and stored (embedded storage here). */
const SESSIONS: Record<string, Partial<IConnectPacket>> = {
  clean: {},
  persistent: { properties: { sessionExpiryInterval: 60 } }
}

const connackOf = (c: Raw5): IConnackPacket => c.received[0] as IConnackPacket

async function closedWith (c: Raw5, reasonCode: number): Promise<void> {
  const disconnect = await c.next(p => p.cmd === 'disconnect', 'DISCONNECT')
  assert.equal(reasonOf(disconnect), reasonCode)
  await waitFor(() => c.closed(), 5000, 'the close')
}

async function connect5 (url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...opts })
  await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject) })
  return client
}

async function metric (broker: BrokerProcess, name: string): Promise<number> {
  const text = await (await fetch(`${broker.httpUrl}/metrics`)).text()
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
}

describe('MQTT 5 acknowledgements (embedded storage, --max-inflight 5)', () => {
  let broker: BrokerProcess
  before(async () => { broker = await startBroker({ args: ['--max-inflight', '5'] }) })
  after(async () => { await broker.stop() })

  test('Receive Maximum: the CONNACK announces --max-inflight; one QoS 2 PUBLISH more awaiting PUBREL gets DISCONNECT 0x93 and is not delivered (MQTT-3.3.4-7)', async () => {
    const watcher = await connect5(broker.mqttUrl)
    const got: string[] = []
    watcher.on('message', (_t, payload) => got.push(payload.toString()))
    await watcher.subscribeAsync('acks/rm/#', { qos: 1 })
    for (const [kind, fields] of Object.entries(SESSIONS)) {
      const c = await raw5(broker.mqttPort, { clientId: `acks-rm-${kind}`, ...fields })
      assert.equal(connackOf(c).properties?.receiveMaximum, 5)
      for (let id = 1; id <= 5; id++) c.send(publish(`acks/rm/${kind}`, id, `${kind}-${id}`))
      await waitCount(c, 'pubrec', 5)
      c.send(publish(`acks/rm/${kind}`, 6, `${kind}-6`))
      await closedWith(c, 0x93)
    }
    await watcher.publishAsync('acks/rm/end', 'sentinel', { qos: 1 })
    await waitFor(() => got.includes('sentinel'), 5000, 'the sentinel')
    assert.deepEqual(got, ['clean-1', 'clean-2', 'clean-3', 'clean-4', 'clean-5',
      'persistent-1', 'persistent-2', 'persistent-3', 'persistent-4', 'persistent-5', 'sentinel'])
    await watcher.endAsync()
  })

  test('Receive Maximum: a client within the limit is unaffected: a PUBREL frees a slot, a retransmission with DUP takes none', async () => {
    for (const [kind, fields] of Object.entries(SESSIONS)) {
      const c = await raw5(broker.mqttPort, { clientId: `acks-within-${kind}`, ...fields })
      for (let id = 1; id <= 5; id++) c.send(publish('acks/within', id, String(id)))
      await waitCount(c, 'pubrec', 5)
      c.send(publish('acks/within', 5, '5', 2, true))
      await waitCount(c, 'pubrec', 6)
      c.send({ cmd: 'pubrel', messageId: 1 })
      c.send(publish('acks/within', 6, '6'))
      await waitCount(c, 'pubrec', 7)
      for (let id = 2; id <= 6; id++) c.send({ cmd: 'pubrel', messageId: id })
      await waitCount(c, 'pubcomp', 6)
      assert.deepEqual(receivedOf(c, 'pubcomp').map(p => [idOf(p), reasonOf(p)]), [[1, 0], [2, 0], [3, 0], [4, 0], [5, 0], [6, 0]], kind)
      await stillUp(c)
      c.socket.destroy()
    }
  })

  test('MQTT 3.1.1 has no Receive Maximum: 20 QoS 2 PUBLISHes awaiting PUBREL are all answered and the connection stays up', async () => {
    for (const clean of [true, false]) {
      const c = await rawMqtt(broker.mqttPort, 4, { clientId: `acks-v3-many-${clean}`, clean })
      for (let id = 1; id <= 20; id++) c.send(publish('acks/v3/many', id, String(id)))
      await waitCount(c, 'pubrec', 20)
      await stillUp(c)
      for (let id = 1; id <= 20; id++) c.send({ cmd: 'pubrel', messageId: id })
      await waitCount(c, 'pubcomp', 20)
      c.socket.destroy()
    }
  })

  test('PUBREL for an unknown packet id gets PUBCOMP 0x92 on MQTT 5 and frees no Receive Maximum slot; the connection stays up', async () => {
    for (const [kind, fields] of Object.entries(SESSIONS)) {
      const c = await raw5(broker.mqttPort, { clientId: `acks-pubrel-${kind}`, ...fields })
      c.send({ cmd: 'pubrel', messageId: 99 })
      assert.equal(reasonOf(await c.next(p => p.cmd === 'pubcomp' && idOf(p) === 99, 'PUBCOMP 99')), 0x92, kind)
      await stillUp(c)
      for (let id = 1; id <= 5; id++) c.send(publish('acks/unknown-pubrel', id, String(id)))
      await waitCount(c, 'pubrec', 5)
      c.send({ cmd: 'pubrel', messageId: 42 })
      assert.equal(reasonOf(await c.next(p => p.cmd === 'pubcomp' && idOf(p) === 42, 'PUBCOMP 42')), 0x92, kind)
      // Five still await PUBREL: the unknown id did not count as one of them.
      c.send(publish('acks/unknown-pubrel', 6, '6'))
      await closedWith(c, 0x93)
    }
  })

  test('PUBREC for an unknown packet id gets PUBREL 0x92 on MQTT 5; the connection stays up', async () => {
    for (const [kind, fields] of Object.entries(SESSIONS)) {
      const c = await raw5(broker.mqttPort, { clientId: `acks-pubrec-${kind}`, ...fields })
      c.send({ cmd: 'pubrec', messageId: 77 })
      assert.equal(reasonOf(await c.next(p => p.cmd === 'pubrel' && idOf(p) === 77, 'PUBREL 77')), 0x92, kind)
      // Its PUBCOMP is ignored like any other for an id not in flight.
      c.send({ cmd: 'pubcomp', messageId: 77, reasonCode: 0x92 })
      await stillUp(c)
      c.socket.destroy()
    }
  })

  test('MQTT 3.1.1: PUBREL and PUBREC for unknown packet ids get a plain PUBCOMP and PUBREL (3.1.1 has no reason codes); the connection stays up', async () => {
    for (const clean of [true, false]) {
      const c = await rawMqtt(broker.mqttPort, 4, { clientId: `acks-v3-unknown-${clean}`, clean })
      c.send({ cmd: 'pubrel', messageId: 99 })
      c.send({ cmd: 'pubrec', messageId: 98 })
      const pubcomp = await c.next(p => p.cmd === 'pubcomp' && idOf(p) === 99, 'PUBCOMP 99')
      const pubrel = await c.next(p => p.cmd === 'pubrel' && idOf(p) === 98, 'PUBREL 98')
      assert.deepEqual([pubcomp.length, pubrel.length], [2, 2], 'remaining length 2: only the packet id')
      await stillUp(c)
      c.socket.destroy()
    }
  })

  test('DISCONNECT may not give a session that connected with Session Expiry Interval 0 an expiry: DISCONNECT 0x82, and no session is kept (MQTT-3.14.2-2)', async () => {
    const c = await raw5(broker.mqttPort, { clientId: 'acks-dx-zero' })
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'acks/dx/zero', qos: 1 }] })
    await c.next(p => p.cmd === 'suback', 'SUBACK')
    c.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 60 } })
    await closedWith(c, 0x82)
    const again = await raw5(broker.mqttPort, { clientId: 'acks-dx-zero', clean: false })
    assert.equal(connackOf(again).sessionPresent, false)
    again.socket.destroy()
  })

  test('a session that connected with Session Expiry Interval > 0 may change it in DISCONNECT: to 0 it ends now, to another value it is kept that long', async () => {
    const expiredBefore = await metric(broker, 'swallow_sessions_expired_total')
    const leave = async (clientId: string, connectedWith: number, disconnectWith: number): Promise<void> => {
      const c = await raw5(broker.mqttPort, { clientId, properties: { sessionExpiryInterval: connectedWith } })
      c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `acks/dx/${clientId}`, qos: 1 }] })
      await c.next(p => p.cmd === 'suback', 'SUBACK')
      c.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: disconnectWith } })
      await waitFor(() => c.closed(), 5000, `${clientId} closed`)
      assert.deepEqual(receivedOf(c, 'disconnect'), [], 'not a protocol error')
    }
    await leave('acks-dx-ends', 3600, 0)
    await leave('acks-dx-longer', 1, 3600)
    await leave('acks-dx-shorter', 3600, 1)
    await waitFor(async () => await metric(broker, 'swallow_sessions_expired_total') >= expiredBefore + 1, 10_000, 'the shortened session to expire')
    // acks-dx-longer left first: with the 1 s it connected with, it would have expired first.
    for (const [clientId, present] of [['acks-dx-ends', false], ['acks-dx-longer', true], ['acks-dx-shorter', false]] as const) {
      const c = await raw5(broker.mqttPort, { clientId, clean: false, properties: { sessionExpiryInterval: 60 } })
      assert.equal(connackOf(c).sessionPresent, present, clientId)
      c.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } })
      await waitFor(() => c.closed(), 5000, `${clientId} closed`)
    }
  })

  test('PUBACK or PUBREC with a reason code >= 0x80 from an MQTT 5 subscriber ends that delivery: it is not resent, and the next queued message goes out', async () => {
    // Receive Maximum 1: the second message of each pair waits in the queue behind the first.
    const opts: Partial<IConnectPacket> = { clientId: 'acks-refuse', properties: { sessionExpiryInterval: 60, receiveMaximum: 1 } }
    const sub = await raw5(broker.mqttPort, opts)
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'acks/refuse/#', qos: 2 }] })
    await sub.next(p => p.cmd === 'suback', 'SUBACK')
    const delivery = (payload: string): Promise<Packet> => sub.next(p => payloadOf(p) === payload, `the delivery of ${payload}`)
    const pub = await connect5(broker.mqttUrl)

    await pub.publishAsync('acks/refuse/1', 'q1-refused', { qos: 1 })
    await pub.publishAsync('acks/refuse/1', 'q1-next', { qos: 1 })
    const q1 = await delivery('q1-refused')
    await stillUp(sub)
    assert.equal(receivedOf(sub, 'publish').length, 1, 'the next one waits for the window')
    sub.send({ cmd: 'puback', messageId: idOf(q1), reasonCode: 0x80 })
    sub.send({ cmd: 'puback', messageId: idOf(await delivery('q1-next')) })

    await pub.publishAsync('acks/refuse/2', 'q2-refused', { qos: 2 })
    await pub.publishAsync('acks/refuse/2', 'q2-next', { qos: 2 })
    const q2 = await delivery('q2-refused')
    sub.send({ cmd: 'pubrec', messageId: idOf(q2), reasonCode: 0x80 })
    const q2next = await delivery('q2-next')
    sub.send({ cmd: 'pubrec', messageId: idOf(q2next) })
    await sub.next(p => p.cmd === 'pubrel' && idOf(p) === idOf(q2next), 'PUBREL of q2-next')
    sub.send({ cmd: 'pubcomp', messageId: idOf(q2next) })
    await stillUp(sub)
    assert.deepEqual(receivedOf(sub, 'pubrel').map(idOf), [idOf(q2next)], 'no PUBREL for the refused PUBREC')
    sub.socket.destroy()

    // The session comes back with nothing to resend: the sentinel is the first thing it gets.
    const again = await raw5(broker.mqttPort, { ...opts, clean: false })
    assert.equal(connackOf(again).sessionPresent, true)
    await pub.publishAsync('acks/refuse/end', 'sentinel', { qos: 1 })
    await again.next(p => payloadOf(p) === 'sentinel', 'the sentinel')
    assert.deepEqual(again.received.filter(p => p.cmd === 'publish' || p.cmd === 'pubrel').map(payloadOf), ['sentinel'])
    again.socket.destroy()
    await pub.endAsync()
  })
})

test('a Session Expiry Interval in DISCONNECT is capped by --max-session-expiry as the one in CONNECT is', async () => {
  const broker = await startBroker({ storage: 'memory', args: ['--max-session-expiry', '1s'] })
  try {
    const c = await raw5(broker.mqttPort, { clientId: 'acks-dx-capped', properties: { sessionExpiryInterval: 1 } })
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'acks/dx/capped', qos: 1 }] })
    await c.next(p => p.cmd === 'suback', 'SUBACK')
    c.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 3600 } })
    await waitFor(() => c.closed(), 5000, 'the close')
    await waitFor(async () => await metric(broker, 'swallow_sessions_expired_total') === 1, 10_000, 'the session to expire after --max-session-expiry')
    const again = await raw5(broker.mqttPort, { clientId: 'acks-dx-capped', clean: false, properties: { sessionExpiryInterval: 1 } })
    assert.equal(connackOf(again).sessionPresent, false)
    again.socket.destroy()
  } finally {
    await broker.stop()
  }
})
