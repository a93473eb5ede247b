// The Redis side of cluster shared groups (src/protocol/shared-stream.ts) against a real
// redis-server: one hand-off per message whichever node runs it, what counts as a member,
// the --shared-backlog bound, and forgetting the consumers of nodes that are gone.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { HandOff, SharedStreams } from '../../src/protocol/shared-stream.js'
import type { RoutedPacket } from '../../src/protocol/types.js'
import { needRedis, startRedis, type RedisProcess } from '../helpers/redis.js'
import { waitFor } from '../helpers/system.js'

const skip = needRedis()
let redis: RedisProcess
const conns: Redis[] = []

before(async () => { if (!skip) redis = await startRedis() })
after(async () => {
  for (const c of conns) c.disconnect()
  if (!skip) await redis.stop()
})

function node (id: string, limit = 100): SharedStreams {
  const conn = new Redis(redis.url)
  conns.push(conn)
  return new SharedStreams(conn, id, 60_000, limit)
}

const message = (counter: number, qos: 0 | 1 = 1): RoutedPacket =>
  ({ cmd: 'publish', topic: 't/x', payload: Buffer.from(`m${counter}`), qos, retain: false, dup: false, brokerId: 'pub-node', brokerCounter: counter })

test('a message handed off by two nodes is in the stream once; the entry carries it whole', { skip }, async () => {
  const [a, b] = [node('a'), node('b')]
  await a.lease('$share/g1/t/#', 60_000)
  assert.equal((await a.handOff('$share/g1/t/#', message(1))).result, HandOff.added)
  assert.equal((await b.handOff('$share/g1/t/#', message(1))).result, HandOff.seen)
  assert.equal((await b.handOff('$share/g1/t/#', message(2))).result, HandOff.added)
  assert.equal(await a.depth('$share/g1/t/#'), 2)
  const entries = await a.read('$share/g1/t/#', 10)
  assert.deepEqual(entries.map(e => e.message.payload.toString()), ['m1', 'm2'])
  assert.equal(entries[0].message.brokerCounter, 1)
  assert.deepEqual(await b.read('$share/g1/t/#', 10), [], 'read by one node only')
})

test('local: take reads the entry for this node in the step that adds it; the other nodes defer to the publishing node while it holds a lease', { skip }, async () => {
  const [pub, other] = [node('pub-node'), node('other')]
  const key = '$share/gl/t/#'
  await pub.lease(key, 60_000)
  const first = await pub.handOff(key, message(1), 'take')
  assert.equal(first.result, HandOff.added)
  assert.equal(first.taken?.message.payload.toString(), 'm1', 'read by the publishing node at once (the consumer group made on first use)')
  assert.deepEqual(await other.read(key, 10), [], 'no other node can read it')
  // Another node routing message 2 first: deferred, not added; the publishing node's hand-off adds it.
  assert.equal((await other.handOff(key, message(2), '', 'pub-node')).result, HandOff.seen)
  assert.equal((await pub.handOff(key, message(2), 'take')).taken?.message.payload.toString(), 'm2')
  // Without take (no member with room there): left for any node.
  assert.equal((await pub.handOff(key, message(3))).taken, null)
  assert.deepEqual((await other.read(key, 10)).map(e => e.message.payload.toString()), ['m3'])
  // The publishing node without a lease: the other nodes hand off themselves.
  await pub.release(key)
  await other.lease(key, 60_000)
  assert.equal((await other.handOff(key, message(4), '', 'pub-node')).result, HandOff.added)
})

test('sticky and hash: the script picks a member cluster-wide and reads the entry for its node; that node finds it in its pending list', { skip }, async () => {
  const [a, b] = [node('na'), node('nb')]
  const key = '$share/gh/t/#'
  await a.lease(key, 60_000)
  await b.lease(key, 60_000)
  await a.register(key, 'w-a')
  await b.register(key, 'w-b')
  // Sticky: the earliest joined member (w-a, on node na), whichever node hands off.
  const fromB = await b.handOff(key, message(1), 'sticky')
  assert.equal(fromB.result, HandOff.assigned, 'read for node na, not nb')
  const [assigned] = await a.assigned(key, 10, '0-0')
  assert.equal(assigned.member, 'w-a')
  assert.equal(assigned.message.payload.toString(), 'm1')
  assert.equal((await a.handOff(key, message(2), 'sticky')).taken?.member, 'w-a', 'na hands off: read for itself')
  // w-a leaves node na: the next member is w-b.
  await a.unregister(key, 'w-a')
  assert.equal((await b.handOff(key, message(3), 'sticky')).taken?.member, 'w-b')
  // Hash: the same key, the same member, from either node; a member of a node without a lease drops out.
  await a.register(key, 'w-a')
  const picks = new Set<string | undefined>()
  for (let n = 10; n < 14; n++) {
    const r = await (n % 2 === 0 ? a : b).handOff(key, message(n), 'hash', '', 'topic-1')
    picks.add(r.taken?.member ?? (r.result === HandOff.assigned ? 'other' : 'none'))
  }
  assert.equal(picks.size, 2, 'one member: taken by its node, assigned when the other node hands off')
  await b.release(key)
  for (let n = 20; n < 23; n++) assert.equal((await b.handOff(key, message(n), 'hash', '', `topic-${n}`)).result, HandOff.assigned, 'only w-a is live')
})

test('nobody connected: QoS 1 kept for a persistent member, QoS 0 dropped; no member at all: dropped and the stream deleted', { skip }, async () => {
  const a = node('a')
  const key = '$share/g2/t/#'
  await a.addPersistent(key, 'worker-1')
  assert.equal((await a.handOff(key, message(1))).result, HandOff.added)
  assert.equal((await a.handOff(key, message(2, 0))).result, HandOff.nobodyConnected)
  await a.forget('worker-1')
  assert.equal((await a.handOff(key, message(3))).result, HandOff.noMember)
  assert.equal(await a.depth(key), 0)
})

test('--shared-backlog bounds the stream; a lease that ran out does not count as a member', { skip }, async () => {
  const a = node('a', 2)
  const key = '$share/g3/t/#'
  await a.lease(key, 60_000)
  assert.equal((await a.handOff(key, message(1))).result, HandOff.added)
  assert.equal((await a.handOff(key, message(2))).result, HandOff.added)
  assert.equal((await a.handOff(key, message(3))).result, HandOff.full)
  await a.lease(key, -1) // expired
  assert.equal((await a.handOff(key, message(4))).result, HandOff.noMember)
})

test('the consumers of gone nodes that hold nothing are forgotten; one holding an entry is kept', { skip }, async () => {
  const [gone, holding] = [node('gone'), node('holding')]
  const key = '$share/g4/t/#'
  await gone.lease(key, 60_000)
  await gone.handOff(key, message(1))
  await gone.handOff(key, message(2))
  const [first] = await gone.read(key, 1)
  await gone.ack(key, first.id)
  await holding.read(key, 1)
  await waitFor(async () => await holding.prune(key, 0) === 1, 2000, 'the gone consumer forgotten')
  const r = conns[conns.length - 1]
  const consumers = await r.xinfo('CONSUMERS', `swallow:shared:stream:${key}`, 'members') as Array<Array<string | number>>
  assert.deepEqual(consumers.map(c => c[1]), ['holding'])
})
