// Shared subscriptions across cluster nodes on one Redis (--storage redis): one member per
// message cluster-wide, with members and publishers on both nodes, MQTT 3.1.1 and 5.0 mixed,
// mosquitto_sub as a member; a node killed mid-stream; the all-offline backlog across a
// node's restart.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { Redis } from 'ioredis'
import type { IConnackPacket, ISubackPacket } from 'mqtt-packet'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { collect, connect, connect5, connectCollecting, publishStream, publishUntilReceived } from '../helpers/mqtt.js'
import { raw5, receivedOf } from '../helpers/raw5.js'
import { needRedis, startRedis, type RedisProcess } from '../helpers/redis.js'
import { needBinary, waitFor } from '../helpers/system.js'
import { distribution, members as membersOn, payloadsOf, type Member } from './shared-cluster-helpers.js'

const skip = needRedis()
// Short, so that the node-death test takes seconds (the default is 10 s).
const ARGS = ['--shared-claim-timeout', '1s', '--heartbeat-interval', '500ms']
let redis: RedisProcess
let a: BrokerProcess
let b: BrokerProcess

before(async () => {
  if (skip) return
  redis = await startRedis()
  a = await startBroker({ storage: 'redis', redisUrl: redis.url, args: ARGS })
  b = await startBroker({ storage: 'redis', redisUrl: redis.url, args: ARGS })
})
after(async () => {
  if (skip) return
  await Promise.all([a.stop(), b.stop()])
  await redis.stop()
})

const members = async (filter: string, nodes: BrokerProcess[]): Promise<Member[]> =>
  await membersOn(filter, nodes, node => node === a ? 'A' : node === b ? 'B' : 'X')

test('Redis storage: CONNACK says Shared Subscription Available and $share is granted', { skip }, async () => {
  const c = await raw5(a.mqttPort)
  try {
    assert.equal((c.received[0] as IConnackPacket).properties?.sharedSubscriptionAvailable, true)
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/x', qos: 1 }] })
    const suback = await c.next(p => p.cmd === 'suback', 'SUBACK') as ISubackPacket
    assert.deepEqual(suback.granted, [1])
  } finally {
    c.socket.destroy()
  }
})

test('a group with members on both nodes and publishers on both: each of 1,000 QoS 1 messages reaches one member once; an ordinary subscriber gets all', { skip }, async (t) => {
  const group = await members('$share/w/jobs/#', [a, a, b, b])
  const watcher = await connect(a.mqttUrl)
  const all = collect(watcher)
  await watcher.subscribeAsync({ 'jobs/#': { qos: 1 }, 'ready/#': { qos: 0 } })
  const pubA = await connect(a.mqttUrl)
  const pubB = await connect(b.mqttUrl)
  await publishUntilReceived(pubB, all, 'ready/b')
  const fromA = publishStream(pubA, 'jobs/a', 500, 20, 'a')
  const fromB = publishStream(pubB, 'jobs/b', 500, 20, 'b')
  await Promise.all([fromA.done, fromB.done])
  const job = /^[ab]\d+$/
  await waitFor(() => payloadsOf(group, job).length >= 1000 && all.filter(r => job.test(r.payload)).length === 1000, 20_000, 'every job delivered')
  const delivered = payloadsOf(group, job)
  t.diagnostic(`distribution over the group: ${distribution(group, job)}`)
  assert.equal(delivered.length, 1000, 'no duplicates')
  assert.equal(new Set(delivered).size, 1000)
  assert.ok(group.filter(m => m.name.startsWith('A')).some(m => m.got.length > 0) && group.filter(m => m.name.startsWith('B')).some(m => m.got.length > 0), 'members on both nodes took some')
  await Promise.all([...group.map(m => m.client.endAsync()), watcher.endAsync(), pubA.endAsync(), pubB.endAsync()])
})

test('QoS 2: members on both nodes, each of 200 messages once (settled at PUBCOMP)', { skip }, async () => {
  const group: Member[] = []
  for (const [i, node] of [a, b, b].entries()) {
    const client = i === 1 ? await connect(node.mqttUrl) : await connect5(node.mqttUrl)
    const got = collect(client)
    await client.subscribeAsync('$share/q2/two/#', { qos: 2 })
    group.push({ name: `${node === a ? 'A' : 'B'}${i}`, client, got })
  }
  const pub = await connect5(a.mqttUrl)
  for (let i = 0; i < 200; i++) await pub.publishAsync('two/x', `q${i}`, { qos: 2 })
  await waitFor(() => payloadsOf(group, /^q\d+$/).length >= 200, 10_000, 'two hundred messages')
  // Each node's stream entries are acknowledged at PUBCOMP: none is left to be claimed and sent again.
  const r = new Redis(redis.url)
  await waitFor(async () => Number((await r.xpending('swallow:shared:stream:$share/q2/two/#', 'members') as [number])[0]) === 0, 10_000, 'every entry settled').finally(() => r.disconnect())
  const delivered = payloadsOf(group, /^q\d+$/)
  assert.equal(delivered.length, 200)
  assert.equal(new Set(delivered).size, 200)
  assert.ok(group.every(m => m.got.every(r => r.qos === 2)))
  await Promise.all([...group.map(m => m.client.endAsync()), pub.endAsync()])
})

test('mosquitto_sub on node B and an MQTT.js member on node A share the messages, each once', { skip: skip || needBinary('mosquitto_sub', 'mosquitto-clients') }, async () => {
  const sub = spawn('mosquitto_sub', ['-p', String(b.mqttPort), '-q', '1', '-t', '$share/mixed/m/#', '-V', 'mqttv5'])
  let out = ''
  sub.stdout.on('data', d => { out += String(d) })
  try {
    const [peer] = await members('$share/mixed/m/#', [a])
    const pub = await connect(a.mqttUrl)
    // Until mosquitto_sub has joined, the MQTT.js member gets everything; then they share.
    await waitFor(async () => { await pub.publishAsync('m/probe', 'probe', { qos: 1 }); return out.includes('probe') }, 10_000, 'mosquitto_sub in the group')
    const fromSub = (): string[] => out.split('\n').filter(line => /^m\d+$/.test(line))
    const fromPeer = (): string[] => peer.got.map(r => r.payload).filter(p => /^m\d+$/.test(p))
    for (let i = 0; i < 40; i++) await pub.publishAsync('m/x', `m${i}`, { qos: 1 })
    await waitFor(() => fromSub().length + fromPeer().length === 40, 10_000, 'forty messages')
    assert.equal(new Set([...fromSub(), ...fromPeer()]).size, 40)
    await Promise.all([peer.client.endAsync(), pub.endAsync()])
  } finally {
    sub.kill()
  }
})

test('a member that leaves with unacknowledged messages and no other member on its node: they go back to the stream and reach a member on the other node', { skip }, async () => {
  // A raw MQTT 5 member on node A that acknowledges nothing and allows two messages in flight.
  const stuck = await raw5(a.mqttPort, { clientId: 'sc-stuck', properties: { receiveMaximum: 2 } })
  stuck.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/gb/work/#', qos: 1 }] })
  await stuck.next(p => p.cmd === 'suback', 'SUBACK')
  // The first two while the stuck member is the only one: which node pulls an entry first is
  // a race once both have room (the route stream hands node B its copies in batches).
  const pub = await connect(a.mqttUrl)
  await publishStream(pub, 'work/1', 2, 2, 'g').done
  await waitFor(() => receivedOf(stuck, 'publish').length === 2, 10_000, 'two at the stuck member')
  const [healthy] = await members('$share/gb/work/#', [b])
  const rest = Array.from({ length: 48 }, (_, i) => `g${i + 2}`)
  for (const payload of rest) await pub.publishAsync('work/1', payload, { qos: 1 })
  await waitFor(() => receivedOf(stuck, 'publish').length === 2 && healthy.got.length === 48, 10_000, 'two at the stuck member, the rest at the other')
  const stuckPayloads = receivedOf(stuck, 'publish').map(p => (p as { payload: Buffer }).payload.toString())
  stuck.socket.destroy()
  await waitFor(() => healthy.got.length === 50, 10_000, 'the two unacknowledged messages, from the stream')
  assert.deepEqual(new Set(healthy.got.map(r => r.payload)), new Set(Array.from({ length: 50 }, (_, i) => `g${i}`)))
  assert.deepEqual(healthy.got.slice(48).map(r => r.payload).sort(), [...stuckPayloads].sort())
  await Promise.all([healthy.client.endAsync(), pub.endAsync()])
})

test('QoS 0 messages published on both nodes reach one member of the group each', { skip }, async () => {
  const group = await members('$share/z/zero/#', [a, b])
  const watcher = await connect(b.mqttUrl)
  const all = collect(watcher)
  await watcher.subscribeAsync('zero/#', { qos: 0 })
  const pubA = await connect(a.mqttUrl)
  const pubB = await connect(b.mqttUrl)
  await publishUntilReceived(pubA, all, 'zero/ready')
  for (let i = 0; i < 50; i++) {
    await pubA.publishAsync('zero/x', `za${i}`, { qos: 0 })
    await pubB.publishAsync('zero/x', `zb${i}`, { qos: 0 })
  }
  await waitFor(() => payloadsOf(group, /^z[ab]\d+$/).length >= 100, 10_000, 'a hundred messages at the group')
  // A duplicate would come from the other node's hand-off: wait for a later message from each node.
  await pubA.publishAsync('zero/x', 'end-a', { qos: 0 })
  await pubB.publishAsync('zero/x', 'end-b', { qos: 0 })
  await waitFor(() => payloadsOf(group, /^end-[ab]$/).length === 2, 10_000, 'the last message from each node')
  const delivered = payloadsOf(group, /^z[ab]\d+$/)
  assert.equal(delivered.length, 100, 'no duplicates')
  assert.equal(new Set(delivered).size, 100)
  await Promise.all([...group.map(m => m.client.endAsync()), watcher.endAsync(), pubA.endAsync(), pubB.endAsync()])
})

test('a node stopped gracefully gives its members\' unacknowledged messages back: a member on another node gets them well before the claim timeout', { skip }, async (t) => {
  const slow = ['--shared-claim-timeout', '60s']
  const x = await startBroker({ storage: 'redis', redisUrl: redis.url, args: slow })
  const y = await startBroker({ storage: 'redis', redisUrl: redis.url, args: slow })
  try {
    const stuck = await raw5(x.mqttPort, { clientId: 'sc-stopping', properties: { receiveMaximum: 2 } })
    stuck.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/st/stop/#', qos: 1 }] })
    await stuck.next(p => p.cmd === 'suback', 'SUBACK')
    const pub = await connect(x.mqttUrl)
    for (let i = 0; i < 2; i++) await pub.publishAsync('stop/x', `s${i}`, { qos: 1 })
    await waitFor(() => receivedOf(stuck, 'publish').length === 2, 5000, 'two messages at the member that acknowledges nothing')
    const [other] = await members('$share/st/stop/#', [y])
    await pub.endAsync()
    const stopped = Date.now()
    await x.stop()
    await waitFor(() => other.got.length === 2, 10_000, 'the two messages on the other node')
    t.diagnostic(`at the other node's member ${Date.now() - stopped} ms after the stop began (claim timeout 60 s)`)
    assert.ok(Date.now() - stopped < 10_000)
    assert.deepEqual(other.got.map(r => r.payload).sort(), ['s0', 's1'])
    await other.client.endAsync()
  } finally {
    await Promise.all([x.stop(), y.stop()])
  }
})

test('a node dies (kill -9) mid-stream: every message the publisher got a PUBACK for reaches an acknowledging member at least once', { skip }, async (t) => {
  const x = await startBroker({ storage: 'redis', redisUrl: redis.url, args: ARGS })
  try {
    const group = await members('$share/d/work/#', [x, x, b, b])
    // A member on node X that acknowledges nothing: node X holds its five when it dies.
    const stuck = await raw5(x.mqttPort, { clientId: 'sc-dying', properties: { receiveMaximum: 5 } })
    stuck.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/d/work/#', qos: 1 }] })
    await stuck.next(p => p.cmd === 'suback', 'SUBACK')
    const pub = await connect(b.mqttUrl)
    const stream = publishStream(pub, 'work/1', 1000, 20, 'w')
    await waitFor(() => payloadsOf(group, /^w/).length >= 300 && receivedOf(stuck, 'publish').length === 5, 20_000, 'the stream under way')
    await x.crash()
    await stream.done
    assert.equal(stream.acked.size, 1000)
    await waitFor(() => [...stream.acked].every(p => new Set(payloadsOf(group, /^w/)).has(p)), 20_000, 'every acknowledged message at a member')
    // Every entry of the group's stream acknowledged (the dead node's claimed and delivered again): duplicates counted after that.
    const r = new Redis(redis.url)
    await waitFor(async () => Number((await r.xpending('swallow:shared:stream:$share/d/work/#', 'members') as [number])[0]) === 0, 20_000, 'no entry left unacknowledged').finally(() => r.disconnect())
    const delivered = payloadsOf(group, /^w/)
    const duplicates = delivered.length - new Set(delivered).size
    const metrics = await (await fetch(`${b.httpUrl}/metrics`)).text()
    const redispatched = Number(/^swallow_shared_redispatched_total\{group="\$share\/d\/work\/#"\} (\d+)$/m.exec(metrics)?.[1] ?? 0)
    t.diagnostic(`distribution: ${distribution(group, /^w/)}; duplicates after the node's death: ${duplicates}; claimed by node B: ${redispatched}`)
    assert.ok(redispatched >= 5, 'node B took over what node X had handed out')
    await Promise.all(group.filter(m => m.name.startsWith('B')).map(m => m.client.endAsync()))
    await pub.endAsync()
  } finally {
    await x.crash()
  }
})

test('all members offline (persistent sessions), messages published, a node restarted: the first member back gets them, once and in order', { skip }, async () => {
  const onA = { clientId: 'sc-offline-a', clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 600 } }
  const onB = { clientId: 'sc-offline-b', clean: false }
  for (const [node, opts] of [[a, onA], [b, onB]] as const) {
    const c = await connect(node.mqttUrl, opts)
    await c.subscribeAsync('$share/off/orders/#', { qos: 1 })
    await c.endAsync()
  }
  const pub = await connect(a.mqttUrl)
  const stream = publishStream(pub, 'orders/new', 30, 5, 'o')
  await stream.done
  assert.equal(stream.acked.size, 30, 'every message acknowledged while no member is connected')
  await pub.endAsync()
  await b.crash()
  b = await startBroker({ storage: 'redis', redisUrl: redis.url, args: ARGS })
  const first = await connectCollecting(b.mqttUrl, onB)
  await waitFor(() => first.got.length === 30, 10_000, 'the backlog, on the restarted node')
  assert.deepEqual(first.got.map(r => r.payload), Array.from({ length: 30 }, (_, i) => `o${i}`))
  // The second member, back on the other node, gets new messages only.
  const second = await connectCollecting(a.mqttUrl, onA)
  const probe = await connect(a.mqttUrl)
  await waitFor(async () => { await probe.publishAsync('orders/new', 'after', { qos: 1 }); return second.got.length > 0 }, 10_000, 'a new message at the second member')
  assert.ok(second.got.every(r => r.payload === 'after'))
  assert.ok(first.got.slice(30).every(r => r.payload === 'after'))
  await first.client.endAsync()
  await second.client.endAsync({ properties: { sessionExpiryInterval: 0 } } as never)
  await probe.endAsync()
})

test('a group with members on one node only: once that node is dead, messages published on the other node wait for its persistent member, which gets them there', { skip }, async () => {
  const x = await startBroker({ storage: 'redis', redisUrl: redis.url, args: ARGS })
  try {
    const opts = { clientId: 'sc-lonely', clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 600 } }
    const [clean] = await members('$share/lone/t/#', [x])
    const persistent = await connect(x.mqttUrl, opts)
    persistent.on('error', () => {})
    await persistent.subscribeAsync('$share/lone/t/#', { qos: 1 })
    // Node B has no member, yet routes the group: the join was announced to it.
    await waitFor(async () => (await (await fetch(`${b.httpUrl}/metrics`)).text()).includes('group="$share/lone/t/#"'), 5000, 'node B to know the group')
    await x.crash()
    clean.client.end(true)
    persistent.end(true)
    const pub = await connect(b.mqttUrl)
    const stream = publishStream(pub, 't/1', 20, 5, 'l')
    await stream.done
    assert.equal(stream.acked.size, 20)
    const back = await connectCollecting(b.mqttUrl, opts)
    await waitFor(() => back.got.length >= 20, 10_000, 'the messages, on node B')
    assert.deepEqual(back.got.map(r => r.payload), Array.from({ length: 20 }, (_, i) => `l${i}`))
    await back.client.endAsync({ properties: { sessionExpiryInterval: 0 } } as never)
    await pub.endAsync()
  } finally {
    await x.crash()
  }
})

test('Redis down: a QoS 1 message for the group gets no PUBACK until Redis is back, then reaches one member once', { skip }, async () => {
  const durable = await startRedis(['--appendonly', 'yes'])
  const x = await startBroker({ storage: 'redis', redisUrl: durable.url, args: ARGS })
  const y = await startBroker({ storage: 'redis', redisUrl: durable.url, args: ARGS })
  try {
    const group = await members('$share/o/outage/#', [x, y])
    const pub = await connect(y.mqttUrl, { reconnectPeriod: 0 })
    await pub.publishAsync('outage/x', 'before', { qos: 1 })
    await waitFor(() => payloadsOf(group, /^before$/).length === 1, 5000, 'the group working')
    await durable.stop()
    await waitFor(async () => (await (await fetch(`${y.httpUrl}/healthz`)).json() as { storage: { state: string } }).storage.state === 'degraded', 5000, 'degraded state')
    let acked = false
    const during = pub.publishAsync('outage/x', 'during', { qos: 1 }).then(() => { acked = true })
    // Absence of the PUBACK over a span (no event marks it): what the other outage tests do too.
    await new Promise(resolve => setTimeout(resolve, 1500))
    assert.equal(acked, false, 'no PUBACK while Redis is down')
    await durable.start()
    await during
    await pub.publishAsync('outage/x', 'after', { qos: 1 })
    await waitFor(() => payloadsOf(group, /^after$/).length === 1, 10_000, 'the message after the outage')
    assert.deepEqual(payloadsOf(group, /^during$/), ['during'])
    await Promise.all([...group.map(m => m.client.endAsync()), pub.endAsync()])
  } finally {
    await Promise.all([x.stop(), y.stop()])
    await durable.stop()
  }
})
