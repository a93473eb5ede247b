// MQTT 5.0 end to end with MQTT.js (protocolVersion 5) and raw packets for the error paths,
// against a real broker process. Statement numbers are MQTT 5.0's (docs/CONFORMANCE-5.md).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { collectPackets, connect5 } from '../helpers/mqtt.js'
import { raw5 } from '../helpers/raw5.js'
import { tempDir, waitFor } from '../helpers/system.js'
import { hashPassword } from '../../plugins/auth/password-hash.js'
import { files } from '../plugins/auth/auth-helpers.js'

const V5: IClientOptions = { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000 }

/** Waits for a message on `topic`, then returns everything received before it (the sentinel proves absence). */
async function untilSentinel (got: IPublishPacket[], publisher: MqttClient, topic: string): Promise<IPublishPacket[]> {
  await publisher.publishAsync(topic, 'sentinel', { qos: 1 })
  await waitFor(() => got.some(p => p.topic === topic), 5000, `sentinel on ${topic}`)
  return got.filter(p => p.topic !== topic)
}

describe('MQTT 5 (memory storage)', () => {
  let broker: BrokerProcess
  before(async () => { broker = await startBroker({ storage: 'memory' }) })
  after(async () => { await broker.stop() })

  test('CONNACK announces the broker\'s limits and assigns a client id for an empty one (MQTT-3.1.3-6, -3.2.2-16)', async () => {
    const conn = await raw5(broker.mqttPort, { clientId: '' })
    const connack = conn.received[0] as { reasonCode: number, properties: Record<string, unknown> }
    assert.equal(connack.reasonCode, 0)
    assert.equal(connack.properties.receiveMaximum, 100)
    assert.equal(connack.properties.maximumPacketSize, 1024 * 1024)
    assert.equal(connack.properties.topicAliasMaximum, 10)
    assert.equal(connack.properties.sharedSubscriptionAvailable, true)
    assert.match(String(connack.properties.assignedClientIdentifier), /^swallow_/)
    conn.socket.destroy()
  })

  test('PUBLISH properties reach the subscriber unchanged, with the remaining expiry and the subscription identifier (MQTT-3.3.2-4, -3.3.2-15, -3.3.2-17, -3.3.4-4)', async () => {
    const sub = await connect5(broker.mqttUrl)
    const got = collectPackets(sub)
    await sub.subscribeAsync('p5/props', { qos: 1, properties: { subscriptionIdentifier: 42 } })
    const pub = await connect5(broker.mqttUrl)
    await pub.publishAsync('p5/props', '{"t":21}', {
      qos: 1,
      properties: {
        payloadFormatIndicator: true,
        messageExpiryInterval: 120,
        contentType: 'application/json',
        responseTopic: 'p5/reply',
        correlationData: Buffer.from([1, 2, 3]),
        userProperties: { first: '1', second: ['a', 'b'] }
      }
    })
    await waitFor(() => got.length > 0, 5000, 'the message')
    const message = got[0]
    const p = message.properties ?? {}
    assert.equal(p.payloadFormatIndicator, true)
    assert.ok(p.messageExpiryInterval !== undefined && p.messageExpiryInterval <= 120 && p.messageExpiryInterval >= 118)
    assert.equal(p.contentType, 'application/json')
    assert.equal(p.responseTopic, 'p5/reply')
    assert.deepEqual(Buffer.from(p.correlationData as Buffer), Buffer.from([1, 2, 3]))
    assert.deepEqual({ ...p.userProperties }, { first: '1', second: ['a', 'b'] })
    assert.equal(p.subscriptionIdentifier, 42)
    await Promise.all([sub.endAsync(), pub.endAsync()])
  })

  test('a message matching two subscriptions arrives once, with both subscription identifiers and the better QoS (MQTT-3.3.4-2, -3.3.4-3, -3.3.4-5)', async () => {
    const sub = await connect5(broker.mqttUrl)
    const got = collectPackets(sub)
    await sub.subscribeAsync('p5/two/+', { qos: 0, properties: { subscriptionIdentifier: 1 } })
    await sub.subscribeAsync('p5/two/#', { qos: 1, properties: { subscriptionIdentifier: 2 } })
    const pub = await connect5(broker.mqttUrl)
    await pub.publishAsync('p5/two/x', 'once', { qos: 1 })
    const before = await untilSentinel(got, pub, 'p5/two/end')
    assert.equal(before.length, 1)
    assert.equal(before[0].qos, 1)
    assert.deepEqual([...(before[0].properties?.subscriptionIdentifier as number[])].sort(), [1, 2])
    await Promise.all([sub.endAsync(), pub.endAsync()])
  })

  test('an MQTT 3.1.1 subscriber gets a v5 message without properties, and a v5 subscriber gets a v3 message', async () => {
    const v3 = await connect5(broker.mqttUrl, { protocolVersion: 4 })
    const v5 = await connect5(broker.mqttUrl)
    const got3 = collectPackets(v3)
    const got5 = collectPackets(v5)
    await v3.subscribeAsync('p5/mixed/#', { qos: 1 })
    await v5.subscribeAsync('p5/mixed/#', { qos: 1 })
    await v5.publishAsync('p5/mixed/from5', 'x', { qos: 1, properties: { userProperties: { k: 'v' } } })
    await v3.publishAsync('p5/mixed/from3', 'y', { qos: 1 })
    await waitFor(() => got3.length === 2 && got5.length === 2, 5000, 'both messages on both clients')
    assert.equal(got3.find(p => p.topic === 'p5/mixed/from5')?.properties, undefined)
    assert.deepEqual({ ...got5.find(p => p.topic === 'p5/mixed/from5')?.properties?.userProperties }, { k: 'v' })
    await Promise.all([v3.endAsync(), v5.endAsync()])
  })

  test('No Local: a client does not get its own messages on that subscription (MQTT-3.8.3-3)', async () => {
    const client = await connect5(broker.mqttUrl)
    const got = collectPackets(client)
    await client.subscribeAsync('p5/nl', { qos: 1, nl: true })
    await client.subscribeAsync('p5/nl-end', { qos: 1 })
    await client.publishAsync('p5/nl', 'mine', { qos: 1 })
    const before = await untilSentinel(got, client, 'p5/nl-end')
    assert.deepEqual(before, [])
    await client.endAsync()
  })

  test('Retain As Published keeps the retain flag on live messages; without it the flag is 0 (MQTT-3.3.1-12, -13)', async () => {
    const sub = await connect5(broker.mqttUrl)
    const got = collectPackets(sub)
    await sub.subscribeAsync('p5/rap/keep', { qos: 1, rap: true })
    await sub.subscribeAsync('p5/rap/plain', { qos: 1 })
    const pub = await connect5(broker.mqttUrl)
    await pub.publishAsync('p5/rap/keep', 'k', { qos: 1, retain: true })
    await pub.publishAsync('p5/rap/plain', 'p', { qos: 1, retain: true })
    await waitFor(() => got.length === 2, 5000, 'two messages')
    assert.equal(got.find(p => p.topic === 'p5/rap/keep')?.retain, true)
    assert.equal(got.find(p => p.topic === 'p5/rap/plain')?.retain, false)
    await pub.publishAsync('p5/rap/keep', '', { qos: 1, retain: true })
    await pub.publishAsync('p5/rap/plain', '', { qos: 1, retain: true })
    await Promise.all([sub.endAsync(), pub.endAsync()])
  })

  test('Retain Handling: 0 sends retained messages on every SUBSCRIBE, 1 only for a new subscription, 2 never (MQTT-3.3.1-9, -10, -11)', async () => {
    const pub = await connect5(broker.mqttUrl)
    await pub.publishAsync('p5/rh/a', 'retained', { qos: 1, retain: true })
    const count = async (rh: 0 | 1 | 2): Promise<number[]> => {
      const client = await connect5(broker.mqttUrl)
      const got = collectPackets(client)
      const counts: number[] = []
      for (let i = 0; i < 2; i++) {
        await client.subscribeAsync('p5/rh/+', { qos: 1, rh })
        await client.subscribeAsync(`p5/rh-end/${rh}/${i}`, { qos: 1 })
        const before = await untilSentinel(got, pub, `p5/rh-end/${rh}/${i}`)
        counts.push(before.filter(p => p.retain).length)
        got.length = 0
      }
      await client.endAsync()
      return counts
    }
    assert.deepEqual(await count(0), [1, 1])
    assert.deepEqual(await count(1), [1, 0])
    assert.deepEqual(await count(2), [0, 0])
    await pub.publishAsync('p5/rh/a', '', { qos: 1, retain: true })
    await pub.endAsync()
  })

  test('SUBACK and UNSUBACK reason codes: 0x8F for an invalid filter, a shared subscription granted, 0x11 for no such subscription', async () => {
    const conn = await raw5(broker.mqttPort, { clientId: 'p5-codes' })
    conn.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ok/#', qos: 1 }, { topic: 'bad/#/x', qos: 1 }, { topic: '$share/g/t', qos: 1 }, { topic: 'two', qos: 2 }] })
    const suback = await conn.next(p => p.cmd === 'suback', 'SUBACK') as { granted: number[] }
    assert.deepEqual(suback.granted, [1, 0x8f, 1, 2])
    conn.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['ok/#', 'never'] })
    const unsuback = await conn.next(p => p.cmd === 'unsuback', 'UNSUBACK') as { granted: number[] }
    assert.deepEqual(unsuback.granted, [0, 0x11])
    conn.socket.destroy()
  })

  test('inbound topic aliases: a PUBLISH sets one, the next uses it with an empty topic (MQTT-3.3.2-12); an alias above the maximum gets DISCONNECT 0x94', async () => {
    const sub = await connect5(broker.mqttUrl)
    const got = collectPackets(sub)
    await sub.subscribeAsync('p5/alias/#', { qos: 1 })
    const conn = await raw5(broker.mqttPort, { clientId: 'p5-alias' })
    conn.send({ cmd: 'publish', topic: 'p5/alias/long-topic', payload: Buffer.from('1'), qos: 1, messageId: 1, retain: false, dup: false, properties: { topicAlias: 3 } })
    conn.send({ cmd: 'publish', topic: '', payload: Buffer.from('2'), qos: 1, messageId: 2, retain: false, dup: false, properties: { topicAlias: 3 } })
    await waitFor(() => got.length === 2, 5000, 'both aliased messages')
    assert.deepEqual(got.map(p => [p.topic, p.payload.toString()]), [['p5/alias/long-topic', '1'], ['p5/alias/long-topic', '2']])
    conn.send({ cmd: 'publish', topic: 'p5/alias/x', payload: Buffer.from('3'), qos: 0, retain: false, dup: false, properties: { topicAlias: 11 } })
    const disconnect = await conn.next(p => p.cmd === 'disconnect', 'DISCONNECT') as { reasonCode: number }
    assert.equal(disconnect.reasonCode, 0x94)
    await waitFor(() => conn.closed(), 5000, 'the close')
    await sub.endAsync()
  })

  test('Receive Maximum: the broker never has more unacknowledged QoS 1 messages to a client than it asked for (MQTT-3.3.4-9)', async () => {
    const conn = await raw5(broker.mqttPort, { clientId: 'p5-recvmax', properties: { receiveMaximum: 3 } })
    conn.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'p5/rm', qos: 1 }] })
    await conn.next(p => p.cmd === 'suback', 'SUBACK')
    const pub = await connect5(broker.mqttUrl)
    for (let i = 0; i < 10; i++) await pub.publishAsync('p5/rm', String(i), { qos: 1 })
    const publishes = (): Array<{ messageId: number }> => conn.received.filter(p => p.cmd === 'publish') as never
    await waitFor(() => publishes().length === 3, 5000, 'three deliveries')
    // Acknowledge one: exactly one more comes (its arrival is the proof that no fourth came before).
    conn.send({ cmd: 'puback', messageId: publishes()[0].messageId })
    await waitFor(() => publishes().length === 4, 5000, 'the fourth delivery')
    assert.equal(publishes().length, 4)
    conn.socket.destroy()
    await pub.endAsync()
  })

  test('a PUBLISH whose Payload Format Indicator says UTF-8 but is not gets PUBACK 0x99 and is not delivered (MQTT-3.3.2-4 of the receiver\'s side)', async () => {
    const sub = await connect5(broker.mqttUrl)
    const got = collectPackets(sub)
    await sub.subscribeAsync('p5/pfi/#', { qos: 1 })
    const conn = await raw5(broker.mqttPort, { clientId: 'p5-pfi' })
    conn.send({ cmd: 'publish', topic: 'p5/pfi/x', payload: Buffer.from([0xff, 0xfe]), qos: 1, messageId: 7, retain: false, dup: false, properties: { payloadFormatIndicator: true } })
    const puback = await conn.next(p => p.cmd === 'puback', 'PUBACK') as { reasonCode: number }
    assert.equal(puback.reasonCode, 0x99)
    const pub = await connect5(broker.mqttUrl)
    assert.deepEqual(await untilSentinel(got, pub, 'p5/pfi/end'), [])
    conn.socket.destroy()
    await Promise.all([sub.endAsync(), pub.endAsync()])
  })

  test('a CONNECT over --max-packet-size gets CONNACK 0x95 and the close', async () => {
    const conn = await raw5(broker.mqttPort, { clientId: 'p5-big-connect', will: { topic: 'p5/will', payload: Buffer.alloc(1024 * 1024 + 10), qos: 0, retain: false } })
    assert.equal((conn.received[0] as { reasonCode: number }).reasonCode, 0x95)
    await waitFor(() => conn.closed(), 5000, 'the close')
  })

  test('a packet over --max-packet-size gets DISCONNECT 0x95 and the close', async () => {
    const conn = await raw5(broker.mqttPort, { clientId: 'p5-big' })
    conn.send({ cmd: 'publish', topic: 'p5/big', payload: Buffer.alloc(1024 * 1024 + 10), qos: 0, retain: false, dup: false })
    const disconnect = await conn.next(p => p.cmd === 'disconnect', 'DISCONNECT') as { reasonCode: number }
    assert.equal(disconnect.reasonCode, 0x95)
    await waitFor(() => conn.closed(), 5000, 'the close')
  })

  test('a message larger than the client\'s Maximum Packet Size is not sent to it; smaller ones are (MQTT-3.1.2-25)', async () => {
    const sub = await connect5(broker.mqttUrl, { properties: { maximumPacketSize: 200 } })
    const got = collectPackets(sub)
    await sub.subscribeAsync('p5/mps/#', { qos: 1 })
    const pub = await connect5(broker.mqttUrl)
    await pub.publishAsync('p5/mps/big', Buffer.alloc(500), { qos: 1 })
    await pub.publishAsync('p5/mps/small', 'fits', { qos: 1 })
    await waitFor(() => got.length > 0, 5000, 'the small message')
    assert.deepEqual(got.map(p => p.topic), ['p5/mps/small'])
    await Promise.all([sub.endAsync(), pub.endAsync()])
  })

  test('a second connection with the same client id takes the session over: the first gets DISCONNECT 0x8E (MQTT-3.1.4-3)', async () => {
    const first = await raw5(broker.mqttPort, { clientId: 'p5-takeover' })
    const second = await raw5(broker.mqttPort, { clientId: 'p5-takeover' })
    const disconnect = await first.next(p => p.cmd === 'disconnect', 'DISCONNECT') as { reasonCode: number }
    assert.equal(disconnect.reasonCode, 0x8e)
    await waitFor(() => first.closed(), 5000, 'the first connection to close')
    assert.equal(second.closed(), false)
    second.socket.destroy()
  })

  test('wills: DISCONNECT 0x00 does not publish it, DISCONNECT 0x04 does, with its properties (MQTT-3.14.4-3, 3.14.2.1)', async () => {
    const watcher = await connect5(broker.mqttUrl)
    const got = collectPackets(watcher)
    await watcher.subscribeAsync('p5/will/#', { qos: 1 })
    const will = (topic: string): IClientOptions['will'] => ({ topic, payload: Buffer.from('gone'), qos: 1, retain: false, properties: { contentType: 'text/plain', userProperties: { why: 'test' } } })
    const normal = await raw5(broker.mqttPort, { clientId: 'p5-will-a', will: will('p5/will/normal') as never })
    normal.send({ cmd: 'disconnect', reasonCode: 0 })
    const withWill = await raw5(broker.mqttPort, { clientId: 'p5-will-b', will: will('p5/will/0x04') as never })
    withWill.send({ cmd: 'disconnect', reasonCode: 4 })
    await waitFor(() => got.length > 0, 5000, 'the will')
    const pub = await connect5(broker.mqttUrl)
    const before = await untilSentinel(got, pub, 'p5/will/end')
    assert.deepEqual(before.map(p => p.topic), ['p5/will/0x04'])
    assert.equal(before[0].properties?.contentType, 'text/plain')
    assert.deepEqual({ ...before[0].properties?.userProperties }, { why: 'test' })
    await Promise.all([watcher.endAsync(), pub.endAsync()])
  })

  test('Will Delay Interval: a reconnect within the delay cancels the will; without one it is published after the delay', async () => {
    const watcher = await connect5(broker.mqttUrl)
    const got = collectPackets(watcher)
    await watcher.subscribeAsync('p5/delay/#', { qos: 1 })
    const withDelay = (id: string): Parameters<typeof raw5>[1] => ({
      clientId: id, clean: false, properties: { sessionExpiryInterval: 60 },
      will: { topic: `p5/delay/${id}`, payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 1 } } as never
    })
    const back = await raw5(broker.mqttPort, withDelay('comes-back'))
    const gone = await raw5(broker.mqttPort, withDelay('stays-away'))
    const start = Date.now()
    back.socket.destroy()
    gone.socket.destroy()
    const again = await raw5(broker.mqttPort, { clientId: 'comes-back', clean: false, properties: { sessionExpiryInterval: 60 } })
    await waitFor(() => got.length > 0, 5000, 'the delayed will')
    assert.ok(Date.now() - start >= 900, 'published after the delay')
    const pub = await connect5(broker.mqttUrl)
    const before = await untilSentinel(got, pub, 'p5/delay/end')
    assert.deepEqual(before.map(p => p.topic), ['p5/delay/stays-away'])
    again.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } })
    await Promise.all([watcher.endAsync(), pub.endAsync()])
  })

  test('the broker\'s shutdown sends DISCONNECT 0x8B to MQTT 5 clients', async () => {
    const own = await startBroker({ storage: 'memory' })
    const conn = await raw5(own.mqttPort, { clientId: 'p5-shutdown' })
    const stopped = own.stop()
    const disconnect = await conn.next(p => p.cmd === 'disconnect', 'DISCONNECT') as { reasonCode: number }
    assert.equal(disconnect.reasonCode, 0x8b)
    assert.equal(await stopped, 0)
  })

  test('MQTT 5 over WebSocket', async () => {
    const sub = await connect5(broker.wsUrl)
    const got = collectPackets(sub)
    await sub.subscribeAsync('p5/ws', { qos: 1 })
    await sub.publishAsync('p5/ws', 'over ws', { qos: 1, properties: { userProperties: { via: 'ws' } } })
    await waitFor(() => got.length > 0, 5000, 'the message')
    assert.deepEqual({ ...got[0].properties?.userProperties }, { via: 'ws' })
    await sub.endAsync()
  })
})

for (const storage of ['embedded', 'memory'] as const) {
  test(`Session Expiry Interval: a session with expiry > 0 keeps its subscriptions and queued messages with their properties across a reconnect${storage === 'embedded' ? ' and a kill -9 of the broker' : ''} (${storage} storage)`, async () => {
    const dir = tempDir()
    let broker = await startBroker({ storage, dataDir: dir.path })
    try {
      const opts: IClientOptions = { clientId: `p5-session-${storage}`, clean: false, properties: { sessionExpiryInterval: 3600 } }
      const first = await connect5(broker.mqttUrl, opts)
      await first.subscribeAsync('p5/session/#', { qos: 1, properties: { subscriptionIdentifier: 9 } })
      await first.endAsync()
      const pub = await connect5(broker.mqttUrl)
      await pub.publishAsync('p5/session/a', 'queued', { qos: 1, properties: { userProperties: { n: '1' }, contentType: 'text/plain' } })
      await pub.endAsync()
      if (storage === 'embedded') {
        await broker.crash()
        broker = await startBroker({ storage, dataDir: dir.path })
      }
      const again = mqtt.connect(broker.mqttUrl, { ...V5, ...opts })
      const got = collectPackets(again)
      const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => { again.once('connect', resolve); again.once('error', reject) })
      assert.equal(connack.sessionPresent, true)
      await waitFor(() => got.length > 0, 5000, 'the queued message')
      assert.equal(got[0].payload.toString(), 'queued')
      assert.equal(got[0].properties?.contentType, 'text/plain')
      assert.deepEqual({ ...got[0].properties?.userProperties }, { n: '1' })
      await again.endAsync()
    } finally {
      await broker.stop()
      dir.remove()
    }
  })
}

test('Session Expiry Interval 0: the session ends with the connection (MQTT-3.1.2-23 of 5.0)', async () => {
  const broker = await startBroker({ storage: 'embedded' })
  try {
    const opts: IClientOptions = { clientId: 'p5-no-expiry', clean: false, properties: { sessionExpiryInterval: 0 } }
    const first = await connect5(broker.mqttUrl, opts)
    await first.subscribeAsync('p5/noexp', { qos: 1 })
    await first.endAsync()
    const again = mqtt.connect(broker.mqttUrl, { ...V5, ...opts })
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => { again.once('connect', resolve); again.once('error', reject) })
    assert.equal(connack.sessionPresent, false)
    await again.endAsync()
  } finally {
    await broker.stop()
  }
})

test('a queued message whose Message Expiry Interval passed is not delivered (MQTT-3.3.2-5)', async () => {
  const broker = await startBroker({ storage: 'memory' })
  try {
    const opts: IClientOptions = { clientId: 'p5-expiry', clean: false, properties: { sessionExpiryInterval: 3600 } }
    const first = await connect5(broker.mqttUrl, opts)
    await first.subscribeAsync('p5/exp/#', { qos: 1 })
    await first.endAsync()
    const pub = await connect5(broker.mqttUrl)
    await pub.publishAsync('p5/exp/short', 'expires', { qos: 1, properties: { messageExpiryInterval: 1 } })
    await pub.publishAsync('p5/exp/long', 'stays', { qos: 1, properties: { messageExpiryInterval: 600 } })
    await new Promise(resolve => setTimeout(resolve, 1100)) // the passing of the expiry time is what is tested
    const again = mqtt.connect(broker.mqttUrl, { ...V5, ...opts })
    const got = collectPackets(again)
    await new Promise((resolve, reject) => { again.once('connect', resolve); again.once('error', reject) })
    const before = await untilSentinel(got, pub, 'p5/exp/end')
    assert.deepEqual(before.map(p => p.topic), ['p5/exp/long'])
    await Promise.all([again.endAsync(), pub.endAsync()])
  } finally {
    await broker.stop()
  }
})

test('MQTT 5 reason codes from the auth plugin: CONNACK 0x86 for a wrong password, 0x8C for an authentication method, and PUBACK 0x87 for a PUBLISH the ACL refuses (the connection stays up)', async () => {
  const f = files({ passwd: `dev:${await hashPassword('dev-pw', 1000)}\n`, acl: 'user dev\ntopic readwrite dev/#\n' })
  const broker = await startBroker({ storage: 'memory', args: ['--password-file', f.path('passwd'), '--acl-file', f.path('acl'), '--auth-max-failures', '0'] })
  try {
    const wrong = await raw5(broker.mqttPort, { clientId: 'p5-wrong', username: 'dev', password: Buffer.from('nope') })
    assert.equal((wrong.received[0] as { reasonCode: number }).reasonCode, 0x86)
    const method = await raw5(broker.mqttPort, { clientId: 'p5-method', username: 'dev', password: Buffer.from('dev-pw'), properties: { authenticationMethod: 'SCRAM-SHA-1' } })
    assert.equal((method.received[0] as { reasonCode: number }).reasonCode, 0x8c)
    const dev = await raw5(broker.mqttPort, { clientId: 'p5-dev', username: 'dev', password: Buffer.from('dev-pw') })
    assert.equal((dev.received[0] as { reasonCode: number }).reasonCode, 0)
    dev.send({ cmd: 'publish', topic: 'other/x', payload: Buffer.from('no'), qos: 1, messageId: 5, retain: false, dup: false })
    const refused = await dev.next(p => p.cmd === 'puback', 'PUBACK') as { reasonCode: number }
    assert.equal(refused.reasonCode, 0x87)
    dev.send({ cmd: 'publish', topic: 'dev/x', payload: Buffer.from('yes'), qos: 1, messageId: 6, retain: false, dup: false })
    const accepted = await dev.next(p => p.cmd === 'puback' && p.messageId === 6, 'second PUBACK') as { reasonCode?: number }
    assert.equal(accepted.reasonCode ?? 0, 0)
    assert.equal(dev.closed(), false)
    dev.socket.destroy()
  } finally {
    await broker.stop()
  }
})
