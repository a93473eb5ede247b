// Shared subscriptions ($share/<group>/<filter>) on one node, against a real broker: one
// member per message, MQTT 3.1.1 and 5.0 members mixed, mosquitto_sub as a member, no
// retained messages on a shared SUBSCRIBE, a full member skipped, a leaving member's
// unacknowledged messages given to another member, the strategies, and the refusals.
// Across cluster nodes (Redis storage): shared-cluster.test.ts.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { IConnackPacket, ISubackPacket } from 'mqtt-packet'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { collect, connect, connect5, connectCollecting, publishStream, type MqttClient, type Received } from '../helpers/mqtt.js'
import { raw5, reasonOf, receivedOf } from '../helpers/raw5.js'
import { needBinary, tempDir, waitFor } from '../helpers/system.js'

async function members (url: string, filter: string, count: number, v5 = true): Promise<Array<{ client: MqttClient, got: Received[] }>> {
  const out = []
  for (let i = 0; i < count; i++) {
    const client = v5 && i % 2 === 0 ? await connect5(url) : await connect(url)
    const got = collect(client)
    await client.subscribeAsync(filter, { qos: 1 })
    out.push({ client, got })
  }
  return out
}

/** Every payload delivered exactly once over the members. */
function assertOncePerMessage (all: Array<{ got: Received[] }>, expected: string[]): void {
  const delivered = all.flatMap(m => m.got.map(r => r.payload))
  assert.equal(delivered.length, expected.length, 'no duplicates')
  assert.deepEqual(new Set(delivered), new Set(expected))
}

describe('shared subscriptions (embedded storage)', () => {
  let broker: BrokerProcess
  before(async () => { broker = await startBroker() })
  after(async () => { await broker.stop() })

  test('CONNACK says Shared Subscription Available; round robin gives each of 4 members (MQTT 3.1.1 and 5.0 mixed) one message in four; an ordinary subscriber gets them all', async () => {
    const probe = await raw5(broker.mqttPort)
    assert.equal((probe.received[0] as IConnackPacket).properties?.sharedSubscriptionAvailable, true)
    probe.socket.destroy()
    const group = await members(broker.mqttUrl, '$share/workers/jobs/#', 4)
    const watcher = await connect(broker.mqttUrl)
    const all = collect(watcher)
    await watcher.subscribeAsync('jobs/#', { qos: 1 })
    const pub = await connect(broker.mqttUrl)
    const payloads = Array.from({ length: 400 }, (_, i) => `j${i}`)
    await publishStream(pub, 'jobs/a', 400, 20, 'j').done
    await waitFor(() => all.length === 400 && group.reduce((n, m) => n + m.got.length, 0) === 400, 10_000, 'every job delivered')
    assertOncePerMessage(group, payloads)
    assert.deepEqual(group.map(m => m.got.length), [100, 100, 100, 100])
    assert.ok(group.every(m => m.got.every(r => r.topic === 'jobs/a')))
    await Promise.all([...group.map(m => m.client.endAsync()), watcher.endAsync(), pub.endAsync()])
  })

  test('no retained message on a shared SUBSCRIBE; the members still get live messages', async () => {
    const pub = await connect(broker.mqttUrl)
    await pub.publishAsync('retained/x', 'old', { qos: 1, retain: true })
    const [member] = await members(broker.mqttUrl, '$share/g/retained/#', 1)
    await pub.publishAsync('retained/x', 'live', { qos: 1 })
    await waitFor(() => member.got.length > 0, 5000, 'the live message')
    assert.deepEqual(member.got.map(r => r.payload), ['live'])
    await pub.publishAsync('retained/x', '', { qos: 1, retain: true })
    await Promise.all([member.client.endAsync(), pub.endAsync()])
  })

  test('a member with a full window is skipped; when it leaves, what it had not acknowledged goes to another member, nothing lost or doubled', async () => {
    // A raw MQTT 5 member that acknowledges nothing and allows two messages in flight.
    const stuck = await raw5(broker.mqttPort, { clientId: 'stuck', properties: { receiveMaximum: 2 } })
    stuck.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/work/#', qos: 1 }] })
    await stuck.next(p => p.cmd === 'suback', 'SUBACK')
    const [healthy] = await members(broker.mqttUrl, '$share/g/work/#', 1)
    const pub = await connect(broker.mqttUrl)
    await publishStream(pub, 'work/1', 50, 10, 'w').done
    await waitFor(() => healthy.got.length === 48, 5000, 'the healthy member to get all but the two stuck ones')
    const stuckPayloads = receivedOf(stuck, 'publish').map(p => (p as { payload: Buffer }).payload.toString())
    assert.equal(stuckPayloads.length, 2)
    stuck.socket.destroy()
    await waitFor(() => healthy.got.length === 50, 5000, 'the two unacknowledged messages, redispatched')
    assert.deepEqual(new Set(healthy.got.map(r => r.payload)), new Set(Array.from({ length: 50 }, (_, i) => `w${i}`)))
    assert.deepEqual(healthy.got.slice(48).map(r => r.payload).sort(), [...stuckPayloads].sort())
    const metrics = await (await fetch(`${broker.httpUrl}/metrics`)).text()
    assert.match(metrics, /swallow_shared_redispatched_total\{group="\$share\/g\/work\/#"\} 2/)
    await Promise.all([healthy.client.endAsync(), pub.endAsync()])
  })

  test('mosquitto_sub joins a group with $share and shares the messages with an MQTT.js member', { skip: needBinary('mosquitto_sub', 'mosquitto-clients') }, async () => {
    const sub = spawn('mosquitto_sub', ['-p', String(broker.mqttPort), '-q', '1', '-t', '$share/mixed/m/#', '-V', 'mqttv5'])
    let out = ''
    sub.stdout.on('data', d => { out += String(d) })
    const [peer] = await members(broker.mqttUrl, '$share/mixed/m/#', 1)
    const pub = await connect(broker.mqttUrl)
    // Until mosquitto_sub has joined, the MQTT.js member gets everything; then they share.
    await waitFor(async () => { await pub.publishAsync('m/probe', 'probe', { qos: 1 }); return out.includes('probe') }, 10_000, 'mosquitto_sub in the group')
    // Counted by payload: a late probe may still arrive.
    const fromSub = (): string[] => out.split('\n').filter(line => /^m\d$/.test(line))
    const fromPeer = (): string[] => peer.got.map(r => r.payload).filter(p => /^m\d$/.test(p))
    for (let i = 0; i < 10; i++) await pub.publishAsync('m/x', `m${i}`, { qos: 1 })
    await waitFor(() => fromSub().length + fromPeer().length === 10, 5000, 'ten messages')
    assert.deepEqual(new Set([...fromSub(), ...fromPeer()]).size, 10)
    assert.equal(fromSub().length, 5)
    sub.kill()
    await Promise.all([peer.client.endAsync(), pub.endAsync()])
  })

  test('a persistent session\'s shared subscription is stored: after a reconnect it is a member again without subscribing', async () => {
    const opts = { clientId: 'shared-persistent', clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 600 } }
    const first = await connect(broker.mqttUrl, opts)
    await first.subscribeAsync('$share/p/durable/#', { qos: 1 })
    await first.endAsync()
    const back = await connect(broker.mqttUrl, opts)
    const got = collect(back)
    const pub = await connect(broker.mqttUrl)
    await pub.publishAsync('durable/1', 'after-reconnect', { qos: 1 })
    await waitFor(() => got.length === 1, 5000, 'the message, through the restored shared subscription')
    assert.equal(got[0].payload, 'after-reconnect')
    await back.endAsync({ properties: { sessionExpiryInterval: 0 } } as never)
    await pub.endAsync()
  })

  test('refusals: an invalid shared filter gets 0x8F (MQTT 3.1.1: 0x80); No Local on a shared subscription is a protocol error (DISCONNECT 0x82)', async () => {
    const c = await raw5(broker.mqttPort)
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/nofilter', qos: 1 }, { topic: '$share/g+/x', qos: 1 }] })
    const suback = await c.next(p => p.cmd === 'suback', 'SUBACK') as ISubackPacket
    assert.deepEqual(suback.granted, [0x8f, 0x8f])
    c.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: '$share/g/x', qos: 1, nl: true }] })
    const disconnect = await c.next(p => p.cmd === 'disconnect', 'DISCONNECT')
    assert.equal(reasonOf(disconnect), 0x82)
  })
})

describe('a shared group whose members are all offline (embedded storage)', () => {
  const member = { clientId: 'backlog-member', clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 600 } }

  async function leaveGroup (url: string, filter: string): Promise<void> {
    const client = await connect(url, member)
    await client.subscribeAsync(filter, { qos: 1 })
    await client.endAsync()
  }

  test('keeps the QoS 1 messages published meanwhile (each acknowledged once stored) and gives them to the first member back, also after a kill -9 of the broker, each once and in order', async () => {
    let broker = await startBroker()
    const dataDir = broker.dataDir
    try {
      await leaveGroup(broker.mqttUrl, '$share/bk/orders/#')
      const pub = await connect(broker.mqttUrl)
      const stream = publishStream(pub, 'orders/new', 30, 5, 'o')
      await stream.done
      assert.equal(stream.acked.size, 30, 'every message acknowledged while no member is connected')
      await broker.crash()
      broker = await startBroker({ dataDir })
      const { client, got } = await connectCollecting(broker.mqttUrl, member)
      await waitFor(() => got.length === 30, 10_000, 'the backlog')
      assert.deepEqual(got.map(r => r.payload), Array.from({ length: 30 }, (_, i) => `o${i}`))
      // Acknowledged by the member: gone from the backlog, not sent again after a reconnect.
      await client.endAsync()
      const again = await connectCollecting(broker.mqttUrl, member)
      const probe = await connect(broker.mqttUrl)
      await probe.publishAsync('orders/new', 'after', { qos: 1 })
      await waitFor(() => again.got.length > 0, 5000, 'the next message')
      assert.deepEqual(again.got.map(r => r.payload), ['after'])
      await again.client.endAsync({ properties: { sessionExpiryInterval: 0 } } as never)
      await probe.endAsync()
    } finally {
      await broker.stop()
    }
  })

  test('--shared-backlog bounds it: the rest is dropped and counted; /metrics shows the backlog and the offline member', async () => {
    const broker = await startBroker({ storage: 'memory', args: ['--shared-backlog', '5'] })
    try {
      await leaveGroup(broker.mqttUrl, '$share/small/q/#')
      const pub = await connect(broker.mqttUrl)
      for (let i = 0; i < 8; i++) await pub.publishAsync('q/x', `q${i}`, { qos: 1 })
      const before = await (await fetch(`${broker.httpUrl}/metrics`)).text()
      assert.match(before, /swallow_shared_group_backlog\{group="\$share\/small\/q\/#"\} 5/)
      assert.match(before, /swallow_shared_group_members\{group="\$share\/small\/q\/#",state="offline"\} 1/)
      const { client, got } = await connectCollecting(broker.mqttUrl, member)
      await waitFor(() => got.length === 5, 5000, 'the five kept')
      await pub.publishAsync('q/x', 'sentinel', { qos: 1 })
      await waitFor(() => got.some(r => r.payload === 'sentinel'), 5000, 'the sentinel')
      assert.deepEqual(got.map(r => r.payload), ['q0', 'q1', 'q2', 'q3', 'q4', 'sentinel'])
      const metrics = await (await fetch(`${broker.httpUrl}/metrics`)).text()
      assert.match(metrics, /swallow_dropped_messages_total\{reason="shared_backlog_full"\} 3/)
      await client.endAsync({ properties: { sessionExpiryInterval: 0 } } as never)
      await pub.endAsync()
    } finally {
      await broker.stop()
    }
  })
})

describe('strategies', () => {
  for (const [strategy, check] of [
    ['hash_topic', (counts: Map<string, Set<number>>) => assert.ok([...counts.values()].every(m => m.size === 1), 'each topic always reaches the same member')],
    ['sticky', (counts: Map<string, Set<number>>) => assert.equal(new Set([...counts.values()].flatMap(m => [...m])).size, 1, 'one member gets everything while it stays')],
    ['random', () => {}]
  ] as const) {
    test(`--shared-strategy ${strategy}: every message once`, async () => {
      const broker = await startBroker({ storage: 'memory', args: ['--shared-strategy', strategy] })
      try {
        const group = await members(broker.mqttUrl, '$share/s/t/#', 3)
        const pub = await connect(broker.mqttUrl)
        const expected: string[] = []
        for (let i = 0; i < 60; i++) {
          expected.push(`p${i}`)
          await pub.publishAsync(`t/${i % 6}`, `p${i}`, { qos: 1 })
        }
        await waitFor(() => group.reduce((n, m) => n + m.got.length, 0) === 60, 5000, 'sixty messages')
        assertOncePerMessage(group, expected)
        const byTopic = new Map<string, Set<number>>()
        group.forEach((m, i) => { for (const r of m.got) (byTopic.get(r.topic) ?? byTopic.set(r.topic, new Set()).get(r.topic) as Set<number>).add(i) })
        check(byTopic)
        await Promise.all([...group.map(m => m.client.endAsync()), pub.endAsync()])
      } finally {
        await broker.stop()
      }
    })
  }

  test('the config file\'s sharedGroups gives one group its own strategy (all its filters); the other groups keep --shared-strategy', async () => {
    const dir = tempDir()
    const file = join(dir.path, 'swallow.json')
    writeFileSync(file, JSON.stringify({ sharedStrategy: 'round_robin', sharedGroups: { pinned: { strategy: 'sticky' } } }))
    const broker = await startBroker({ storage: 'memory', args: ['--config', file] })
    try {
      const pinned = await members(broker.mqttUrl, '$share/pinned/t/#', 3)
      const pinnedOther = await members(broker.mqttUrl, '$share/pinned/u/#', 2)
      const rr = await members(broker.mqttUrl, '$share/rr/t/#', 3)
      const pub = await connect(broker.mqttUrl)
      for (let i = 0; i < 30; i++) await pub.publishAsync(`t/${i % 3}`, `p${i}`, { qos: 1 })
      for (let i = 0; i < 10; i++) await pub.publishAsync('u/x', `u${i}`, { qos: 1 })
      await waitFor(() => rr.reduce((n, m) => n + m.got.length, 0) === 30 && pinned.reduce((n, m) => n + m.got.length, 0) === 30 &&
        pinnedOther.reduce((n, m) => n + m.got.length, 0) === 10, 5000, 'every message, once per group')
      assert.deepEqual(pinned.map(m => m.got.length).sort((a, b) => b - a), [30, 0, 0], 'sticky: one member of "pinned" gets everything')
      assert.deepEqual(pinnedOther.map(m => m.got.length).sort((a, b) => b - a), [10, 0], 'sticky too on the group\'s other filter')
      assert.deepEqual(rr.map(m => m.got.length), [10, 10, 10], 'round robin in "rr"')
      await Promise.all([...pinned, ...pinnedOther, ...rr].map(m => m.client.endAsync()).concat(pub.endAsync()))
    } finally {
      await broker.stop()
      dir.remove()
    }
  })
})
