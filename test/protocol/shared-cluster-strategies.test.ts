// The strategies that choose across cluster nodes on one Redis (src/protocol/shared-cluster.ts):
// local (the publishing node's members first), sticky and hash_topic (one member cluster-wide
// for the same key), with a node killed. The rest of the cluster groups: shared-cluster.test.ts.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { connect, connect5, publishStream } from '../helpers/mqtt.js'
import { raw5, receivedOf } from '../helpers/raw5.js'
import { needRedis, startRedis, type RedisProcess } from '../helpers/redis.js'
import { waitFor } from '../helpers/system.js'
import { distribution, members as membersOn, payloadsOf, type Member } from './shared-cluster-helpers.js'

const skip = needRedis()
// Short, so that the node-death test takes seconds (the default is 10 s).
// Groups "loc", "hsh" and "stk" have their own strategies (the config's per-group setting).
const ARGS = ['--shared-claim-timeout', '1s', '--heartbeat-interval', '500ms', '--shared-group', 'loc=local', '--shared-group', 'hsh=hash_topic', '--shared-group', 'stk=sticky']
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

test('local strategy: a message goes to a member on the node it was published on while one there has room, each once; with none there, to the other node\'s', { skip }, async (t) => {
  const group = await members('$share/loc/l/#', [a, a, b, b])
  const onA = group.filter(m => m.name.startsWith('A'))
  const onB = group.filter(m => m.name.startsWith('B'))
  const pubA = await connect(a.mqttUrl)
  const pubB = await connect5(b.mqttUrl)
  for (let i = 0; i < 40; i++) {
    await pubA.publishAsync('l/a', `la${i}`, { qos: 1 })
    await pubB.publishAsync('l/b', `lb${i}`, { qos: 1 })
  }
  await waitFor(() => payloadsOf(group, /^l[ab]\d+$/).length >= 80, 10_000, 'eighty messages')
  t.diagnostic(`distribution: ${distribution(group, /^la/)} (published on A); ${distribution(group, /^lb/)} (published on B)`)
  assert.equal(new Set(payloadsOf(group, /^l[ab]\d+$/)).size, 80)
  assert.equal(payloadsOf(group, /^l[ab]\d+$/).length, 80, 'no duplicates')
  assert.equal(payloadsOf(onA, /^la/).length, 40, 'every message published on A at a member on A')
  assert.equal(payloadsOf(onB, /^lb/).length, 40, 'every message published on B at a member on B')
  assert.ok(onA.every(m => m.got.length === 20), 'round robin among a node\'s members')
  // No member left on A: what is published there goes to B's members.
  await Promise.all(onA.map(m => m.client.endAsync()))
  for (let i = 0; i < 10; i++) await pubA.publishAsync('l/a', `lx${i}`, { qos: 1 })
  await waitFor(() => payloadsOf(onB, /^lx/).length >= 10, 10_000, 'the ten published on A, at B\'s members')
  assert.equal(new Set(payloadsOf(onB, /^lx/)).size, 10)
  assert.equal(payloadsOf(onB, /^lx/).length, 10)
  await Promise.all([...onB.map(m => m.client.endAsync()), pubA.endAsync(), pubB.endAsync()])
})

test('local strategy, the publishing node dies (kill -9) mid-stream: every message it acknowledged reaches a member, those its members held on the other node', { skip }, async (t) => {
  const x = await startBroker({ storage: 'redis', redisUrl: redis.url, args: ARGS })
  try {
    const group = await members('$share/loc/k/#', [x, x, b, b])
    // A member on node X that acknowledges nothing: the five it holds were read by X alone.
    const stuck = await raw5(x.mqttPort, { clientId: 'loc-dying', properties: { receiveMaximum: 5 } })
    stuck.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/loc/k/#', qos: 1 }] })
    await stuck.next(p => p.cmd === 'suback', 'SUBACK')
    const pub = await connect(x.mqttUrl)
    pub.on('error', () => {})
    const stream = publishStream(pub, 'k/1', 1000, 20, 'k')
    await waitFor(() => payloadsOf(group, /^k/).length >= 200 && receivedOf(stuck, 'publish').length === 5, 20_000, 'the stream under way')
    const atBBefore = payloadsOf(group.filter(m => m.name.startsWith('B')), /^k/).length
    await x.crash()
    const acked = [...stream.acked]
    assert.ok(acked.length >= 200)
    await waitFor(() => acked.every(p => new Set(payloadsOf(group, /^k/)).has(p)), 20_000, 'every acknowledged message at a member')
    const stuckPayloads = receivedOf(stuck, 'publish').map(p => (p as { payload: Buffer }).payload.toString())
    const onB = group.filter(m => m.name.startsWith('B'))
    assert.ok(stuckPayloads.every(p => payloadsOf(onB, /^k/).includes(p)), 'what the dead node\'s stuck member held, claimed and delivered on B')
    t.diagnostic(`acknowledged before the kill: ${acked.length}; at B's members before the kill: ${atBBefore}; distribution: ${distribution(group, /^k/)}`)
    await Promise.all(onB.map(m => m.client.endAsync()))
  } finally {
    await x.crash()
  }
})

test('hash_topic and sticky hold cluster-wide: each topic\'s messages, published on both nodes, at one member of the four; sticky: one member, then one other once it leaves', { skip }, async (t) => {
  const hashed = await members('$share/hsh/h/#', [a, a, b, b])
  const sticky = await members('$share/stk/s/#', [a, b, a, b])
  const pubA = await connect(a.mqttUrl)
  const pubB = await connect5(b.mqttUrl)
  for (let i = 0; i < 60; i++) {
    await (i % 2 === 0 ? pubA : pubB).publishAsync(`h/${i % 6}`, `h${i}`, { qos: 1 })
    await (i % 2 === 0 ? pubB : pubA).publishAsync('s/x', `s${i}`, { qos: 1 })
  }
  await waitFor(() => payloadsOf(hashed, /^h\d+$/).length >= 60 && payloadsOf(sticky, /^s\d+$/).length >= 60, 10_000, 'sixty messages in each group')
  t.diagnostic(`hash_topic: ${distribution(hashed, /^h/)}; sticky: ${distribution(sticky, /^s/)}`)
  assert.equal(new Set(payloadsOf(hashed, /^h\d+$/)).size, 60)
  assert.equal(payloadsOf(hashed, /^h\d+$/).length, 60, 'no duplicates')
  for (let topic = 0; topic < 6; topic++) {
    const at = hashed.filter(m => m.got.some(r => r.topic === `h/${topic}`))
    assert.equal(at.length, 1, `topic h/${topic} at one member cluster-wide (from publishers on both nodes)`)
  }
  assert.equal(payloadsOf(sticky, /^s\d+$/).length, 60)
  const first = sticky.filter(m => m.got.length > 0)
  assert.equal(first.length, 1, 'sticky: one member gets everything')
  await first[0].client.endAsync()
  const rest = sticky.filter(m => m !== first[0])
  for (let i = 0; i < 20; i++) await (i % 2 === 0 ? pubA : pubB).publishAsync('s/x', `t${i}`, { qos: 1 })
  await waitFor(() => payloadsOf(rest, /^t\d+$/).length >= 20, 10_000, 'twenty more')
  assert.equal(rest.filter(m => payloadsOf([m], /^t\d+$/).length > 0).length, 1, 'then one other member gets everything')
  assert.equal(payloadsOf(rest, /^t\d+$/).length, 20)
  await Promise.all([...hashed, ...rest].map(m => m.client.endAsync()).concat(pubA.endAsync(), pubB.endAsync()))
})

test('sticky, the sticky member\'s node dies (kill -9): what it had been given is claimed and delivered on the other node, and the next messages stick to a member there', { skip }, async () => {
  const x = await startBroker({ storage: 'redis', redisUrl: redis.url, args: ARGS })
  try {
    // The earliest joined member, on node X, acknowledges nothing: X holds all it was given.
    const stuck = await raw5(x.mqttPort, { clientId: 'stk-dying', properties: { receiveMaximum: 5 } })
    stuck.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/stk/d/#', qos: 1 }] })
    await stuck.next(p => p.cmd === 'suback', 'SUBACK')
    const onB = await members('$share/stk/d/#', [b, b])
    const pub = await connect(b.mqttUrl)
    const stream = publishStream(pub, 'd/1', 50, 10, 'd')
    await stream.done
    await waitFor(() => receivedOf(stuck, 'publish').length === 5, 5000, 'the sticky member\'s window full')
    assert.equal(payloadsOf(onB, /^d/).length, 0, 'all fifty stuck to the member on X')
    await x.crash()
    await waitFor(() => new Set(payloadsOf(onB, /^d/)).size === 50, 20_000, 'the fifty, claimed by node B')
    for (let i = 0; i < 10; i++) await pub.publishAsync('d/1', `e${i}`, { qos: 1 })
    await waitFor(() => payloadsOf(onB, /^e/).length >= 10, 10_000, 'ten more')
    assert.equal(onB.filter(m => payloadsOf([m], /^e/).length > 0).length, 1, 'sticky again, to one member on B')
    await Promise.all([...onB.map(m => m.client.endAsync()), pub.endAsync()])
  } finally {
    await x.crash()
  }
})

test('sticky across a Redis restart (AOF): no PUBACK while Redis is down, then every message once, still at the one sticky member', { skip }, async (t) => {
  const durable = await startRedis(['--appendonly', 'yes'])
  // Leases outlive the outage: with an outage longer than the claim timeout, what is handed off
  // before the nodes renew their leases goes to any node (README), and unacknowledged entries
  // are claimed (at least once).
  const args = [...ARGS, '--shared-claim-timeout', '5s']
  const x = await startBroker({ storage: 'redis', redisUrl: durable.url, args })
  const y = await startBroker({ storage: 'redis', redisUrl: durable.url, args })
  try {
    const group = await members('$share/stk/r/#', [x, y, y])
    const pub = await connect(y.mqttUrl, { reconnectPeriod: 0 })
    for (let i = 0; i < 5; i++) await pub.publishAsync('r/x', `before${i}`, { qos: 1 })
    await waitFor(() => payloadsOf(group, /^before/).length === 5, 5000, 'the group working')
    await durable.stop()
    await waitFor(async () => (await (await fetch(`${y.httpUrl}/healthz`)).json() as { storage: { state: string } }).storage.state === 'degraded', 5000, 'degraded state')
    let acked = false
    const during = pub.publishAsync('r/x', 'during', { qos: 1 }).then(() => { acked = true })
    // Absence of the PUBACK over a span (no event marks it), as in shared-cluster.test.ts.
    await new Promise(resolve => setTimeout(resolve, 1500))
    assert.equal(acked, false, 'no PUBACK while Redis is down')
    await durable.start()
    await during
    for (let i = 0; i < 5; i++) await pub.publishAsync('r/x', `after${i}`, { qos: 1 })
    await waitFor(() => payloadsOf(group, /^after/).length === 5, 10_000, 'the messages after the restart')
    t.diagnostic(`sticky across the restart: ${group.map(m => `${m.name}=${m.got.map(r => r.payload).join(',')}`).join(' ')}`)
    assert.deepEqual(payloadsOf(group, /^during$/), ['during'])
    assert.equal(payloadsOf(group, /^(before|during|after)/).length, 11, 'each once')
    assert.equal(group.filter(m => m.got.length > 0).length, 1, 'all at the sticky member')
    await Promise.all([...group.map(m => m.client.endAsync()), pub.endAsync()])
  } finally {
    await Promise.all([x.stop(), y.stop()])
    await durable.stop()
  }
})
