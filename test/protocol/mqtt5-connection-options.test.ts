// What an MQTT 5 client's CONNECT asks of the broker's side of the connection, against a
// real broker: outbound topic aliases (Topic Alias Maximum), Response Information
// (--response-information) and Request Problem Information. Raw packets show the wire;
// MQTT.js shows that a real client resolves the aliases.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { IConnackPacket, IDisconnectPacket, IPublishPacket } from 'mqtt-packet'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { collect, connect, connect5 } from '../helpers/mqtt.js'
import { raw5, type Raw5 } from '../helpers/raw5.js'
import { waitFor } from '../helpers/system.js'

const publishesOf = (c: Raw5): IPublishPacket[] => c.received.filter((p): p is IPublishPacket => p.cmd === 'publish')

describe('MQTT 5 connection options (memory storage, --response-information reply/%c/)', () => {
  let broker: BrokerProcess
  before(async () => { broker = await startBroker({ storage: 'memory', args: ['--response-information', 'reply/%c/'] }) })
  after(async () => { await broker.stop() })

  test('outbound topic aliases: the first topics get an alias with the topic once, then the alias alone; beyond the client\'s Topic Alias Maximum topics go out in full', async () => {
    const sub = await raw5(broker.mqttPort, { clientId: 'aliased', properties: { topicAliasMaximum: 2 } })
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ta/#', qos: 1 }] })
    await sub.next(p => p.cmd === 'suback', 'SUBACK')
    const pub = await connect(broker.mqttUrl)
    for (const [topic, qos] of [['ta/a', 0], ['ta/a', 1], ['ta/b', 1], ['ta/c', 0], ['ta/b', 0], ['ta/c', 1]] as const) await pub.publishAsync(topic, topic, { qos })
    await waitFor(() => publishesOf(sub).length === 6, 5000, 'six deliveries')
    const wire = publishesOf(sub).map(p => [p.topic, p.properties?.topicAlias ?? 0, p.payload.toString()])
    assert.deepEqual(wire, [
      ['ta/a', 1, 'ta/a'], ['', 1, 'ta/a'], ['ta/b', 2, 'ta/b'], ['ta/c', 0, 'ta/c'], ['', 2, 'ta/b'], ['ta/c', 0, 'ta/c']
    ])
    sub.socket.destroy()
    await pub.endAsync()
  })

  test('a message not sent because it is larger than the client\'s Maximum Packet Size does not use up an alias; MQTT.js resolves the aliases to the right topics', async () => {
    const sub = await raw5(broker.mqttPort, { clientId: 'aliased-small', properties: { topicAliasMaximum: 5, maximumPacketSize: 200 } })
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'tb/#', qos: 0 }] })
    await sub.next(p => p.cmd === 'suback', 'SUBACK')
    const library = await connect5(broker.mqttUrl, { properties: { topicAliasMaximum: 5 } })
    const got = collect(library)
    await library.subscribeAsync('tb/#')
    const pub = await connect(broker.mqttUrl)
    await pub.publishAsync('tb/big', 'x'.repeat(500))
    for (const topic of ['tb/one', 'tb/two', 'tb/one', 'tb/two']) await pub.publishAsync(topic, 'small')
    await waitFor(() => publishesOf(sub).length === 4 && got.length === 5, 5000, 'the deliveries')
    assert.deepEqual(publishesOf(sub).map(p => [p.topic, p.properties?.topicAlias]), [['tb/one', 1], ['tb/two', 2], ['', 1], ['', 2]])
    assert.deepEqual(got.map(p => p.topic), ['tb/big', 'tb/one', 'tb/two', 'tb/one', 'tb/two'])
    sub.socket.destroy()
    library.end(true)
    await pub.endAsync()
  })

  test('Response Information: sent in CONNACK only to a client that asks for it, with its client id in place of %c', async () => {
    const asking = await raw5(broker.mqttPort, { clientId: 'requester-1', properties: { requestResponseInformation: true } })
    assert.equal((asking.received[0] as IConnackPacket).properties?.responseInformation, 'reply/requester-1/')
    const silent = await raw5(broker.mqttPort, { clientId: 'requester-2' })
    assert.equal((silent.received[0] as IConnackPacket).properties?.responseInformation, undefined)
    asking.socket.destroy()
    silent.socket.destroy()
  })

  test('Request Problem Information 0: a DISCONNECT for a protocol error carries no reason string (1: it does)', async () => {
    for (const requestProblemInformation of [false, true]) {
      const c = await raw5(broker.mqttPort, { properties: { requestProblemInformation } })
      c.send({ cmd: 'publish', topic: 'tc/x', payload: Buffer.from('1'), qos: 0, retain: false, dup: false, properties: { topicAlias: 99 } })
      const disconnect = await c.next(p => p.cmd === 'disconnect', 'DISCONNECT') as IDisconnectPacket
      assert.equal(disconnect.reasonCode, 0x94)
      assert.equal(disconnect.properties?.reasonString !== undefined, requestProblemInformation)
    }
  })
})
