// ACL file against a real broker: users, anonymous clients and %u/%c patterns; per-filter
// SUBACK codes; wildcard subscriptions that would over-reach; denied publishes that are
// acknowledged but neither routed nor retained; $SYS protection.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { startBroker, type BrokerProcess } from '../../helpers/broker.js'
import { collect, connect, sentinel, type MqttClient, type Received } from '../../helpers/mqtt.js'
import { waitFor } from '../../helpers/system.js'
import { hashPassword } from '../../../plugins/auth/password-hash.js'
import { files, metric, subscribeCodes } from './auth-helpers.js'

const ACL = `# anonymous clients
topic read public/#
topic write anon/in

user alice
topic readwrite alice/#
topic read shared/#
topic read $SYS/#

user bob
topic readwrite bob/#
topic write shared/news

user admin
topic read #

pattern readwrite devices/%c/#
pattern read inbox/%u/#
`

let broker: BrokerProcess
const open: MqttClient[] = []
before(async () => {
  const lines = await Promise.all(['alice', 'bob', 'admin'].map(async u => `${u}:${await hashPassword(u + '-pw', 1000)}`))
  const f = files({ passwd: lines.join('\n') + '\n', acl: ACL })
  broker = await startBroker({
    storage: 'memory',
    args: ['--password-file', f.path('passwd'), '--acl-file', f.path('acl'), '--allow-anonymous', '--sys-interval', '200ms', '--auth-max-failures', '0']
  })
})
after(async () => {
  for (const c of open) c.end(true)
  await broker.stop()
})

async function as (user: string | null, clientId?: string): Promise<MqttClient> {
  const c = await connect(broker.mqttUrl, user === null ? { clientId } : { username: user, password: user + '-pw', clientId })
  open.push(c)
  return c
}

/** An admin (reads everything but $SYS) subscribed to #, to prove what was routed at all. */
async function observer (): Promise<Received[]> {
  const admin = await as('admin')
  assert.deepEqual(await subscribeCodes(admin, ['#']), [1])
  return collect(admin)
}

test('a user reads and writes its own topics; another user\'s publish there is acknowledged but not routed', async () => {
  const seen = await observer()
  const alice = await as('alice')
  const got = collect(alice)
  assert.deepEqual(await subscribeCodes(alice, ['alice/#']), [1])
  const bob = await as('bob')
  await bob.publishAsync('alice/inbox', 'from bob q0', { qos: 0 })
  await bob.publishAsync('alice/inbox', 'from bob q1', { qos: 1 }) // resolves on PUBACK
  await bob.publishAsync('alice/inbox', 'from bob q2', { qos: 2 }) // resolves on PUBCOMP
  await alice.publishAsync('alice/inbox', 'from alice', { qos: 1 })
  await waitFor(() => got.length >= 1 && seen.some(m => m.payload === 'from alice'), 5000, 'alice\'s own message')
  await sentinel(bob, seen, 'bob/sentinel') // after bob's denied publishes on the same connection
  assert.deepEqual(got.map(m => m.payload), ['from alice'])
  assert.ok(!seen.some(m => m.payload.startsWith('from bob')), 'denied messages reached nobody')
  assert.ok(bob.connected, 'a denied publish does not close the connection')
  await bob.publishAsync('bob/own', 'still here', { qos: 1 })
  assert.ok(await metric(broker.httpUrl, 'swallow_auth_publish_denied_total') >= 3)
  assert.ok(broker.logs.some(l => l.msg === 'publish denied by ACL' && l.topic === 'alice/inbox' && l.level === 30))
})

test('a denied retained publish is not retained', async () => {
  const bob = await as('bob')
  await bob.publishAsync('alice/retained', 'sneaky', { qos: 1, retain: true })
  const alice = await as('alice')
  const got = collect(alice)
  assert.deepEqual(await subscribeCodes(alice, ['alice/retained']), [1])
  // Read from the store (the admin API): the subscriber could only prove it by waiting.
  const stored = await (await fetch(`${broker.httpUrl}/api/retained?filter=alice/retained`)).json() as { items: unknown[] }
  assert.deepEqual(stored.items, [])
  assert.deepEqual(got, [])
})

test('a mixed SUBSCRIBE gets [granted, 0x80]: each filter is checked on its own', async () => {
  const alice = await as('alice')
  assert.deepEqual(await subscribeCodes(alice, ['alice/#', 'bob/#']), [1, 128])
  assert.deepEqual(await subscribeCodes(alice, ['shared/+', 'shared/news', 'bob/x'], 0), [0, 0, 128])
})

test('a shared subscription is authorized on its inner filter: $share/g/<granted> granted, $share/g/<denied> 0x80', async () => {
  const alice = await as('alice')
  assert.deepEqual(await subscribeCodes(alice, ['$share/g/alice/#', '$share/g/bob/#', '$share/g/shared/news'], 0), [0, 128, 0])
})

test('wildcard subscriptions that would reach beyond the grants are refused', async () => {
  const alice = await as('alice', 'alice-dev')
  assert.deepEqual(await subscribeCodes(alice, ['#', '+/inbox', 'inbox/+/x', 'inbox/#', 'devices/#', 'alice/+/deep/#']), [128, 128, 128, 128, 128, 1])
  assert.deepEqual(await subscribeCodes(alice, ['inbox/alice/#', 'devices/alice-dev/#']), [1, 1])
})

test('patterns substitute %c and %u for each client', async () => {
  const seen = await observer()
  const dev = await as('bob', 'dev1')
  await dev.publishAsync('devices/dev1/temp', 'own device', { qos: 1 })
  await dev.publishAsync('devices/dev2/temp', 'other device', { qos: 1 })
  assert.deepEqual(await subscribeCodes(dev, ['inbox/bob/#', 'inbox/alice/#', 'devices/dev1/cmd', 'devices/dev2/cmd']), [1, 128, 1, 128])
  await waitFor(() => seen.some(m => m.payload === 'own device'), 5000, 'own device message')
  await sentinel(dev, seen, 'devices/dev1/sentinel')
  assert.ok(!seen.some(m => m.payload === 'other device'))
})

test('anonymous clients get the topic lines before the first user line', async () => {
  const seen = await observer()
  const anon = await as(null)
  const got = collect(anon)
  assert.deepEqual(await subscribeCodes(anon, ['public/#', 'alice/#', 'devices/#']), [1, 128, 128])
  await anon.publishAsync('anon/in', 'anonymous write', { qos: 1 })
  await anon.publishAsync('public/news', 'not writable', { qos: 1 })
  const bob = await as('bob')
  await bob.publishAsync('shared/news', 'news for alice', { qos: 1 })
  await waitFor(() => seen.some(m => m.payload === 'anonymous write'), 5000, 'anonymous write')
  await sentinel(anon, seen, 'anon/in')
  await sentinel(bob, seen, 'bob/sentinel')
  assert.ok(!seen.some(m => m.payload === 'not writable'))
  assert.deepEqual(got, [], 'anonymous clients read public/# only')
})

test('$SYS: nobody publishes into it, reading it needs an explicit grant, and # does not include it', async () => {
  const anon = await as(null)
  assert.deepEqual(await subscribeCodes(anon, ['$SYS/#']), [128])
  const admin = await as('admin')
  const adminGot = collect(admin)
  assert.deepEqual(await subscribeCodes(admin, ['$SYS/#', '#']), [128, 1])
  const alice = await as('alice')
  const aliceGot = collect(alice)
  assert.deepEqual(await subscribeCodes(alice, ['$SYS/broker/uptime']), [1])
  await waitFor(() => aliceGot.some(m => m.topic === '$SYS/broker/uptime'), 5000, '$SYS uptime')
  assert.ok(!adminGot.some(m => m.topic.startsWith('$SYS')), 'a # subscription never sees $SYS')
  const publisher = await as('alice')
  const closed = new Promise<void>(resolve => publisher.once('close', () => resolve()))
  publisher.publish('$SYS/broker/uptime', 'forged', { qos: 0 })
  await closed // the core refuses client publishes into $SYS by closing the connection: nothing of it is routed after
  assert.ok(!aliceGot.some(m => m.payload === 'forged'))
})

test('a denied QoS 1 publish is not queued for offline persistent sessions', async () => {
  const opts = { username: 'admin', password: 'admin-pw', clientId: 'offline-admin', clean: false }
  const first = await connect(broker.mqttUrl, opts)
  assert.deepEqual(await subscribeCodes(first, ['#', '$SYS/#']), [1, 128])
  first.end(true)
  await waitFor(() => broker.logs.some(l => l.msg === 'client disconnected' && l.clientId === 'offline-admin'), 5000, 'the session to be offline')
  const bob = await as('bob')
  await bob.publishAsync('alice/offline', 'denied while offline', { qos: 1 })
  await bob.publishAsync('bob/offline', 'allowed while offline', { qos: 1 })
  // Listen before CONNACK: the queued messages may arrive in the same read.
  const again = mqtt.connect(broker.mqttUrl, { ...opts, reconnectPeriod: 0 })
  open.push(again)
  const got = collect(again)
  // Queued in publishing order: the denied one, had it been queued, would be here first.
  await waitFor(() => got.some(m => m.payload === 'allowed while offline'), 5000, 'queued allowed message')
  assert.deepEqual(got.map(m => m.topic), ['bob/offline'])
})

test('a will is published only when the ACL lets its client write there', async () => {
  const seen = await observer()
  for (const [topic, payload] of [['alice/status', 'allowed will'], ['bob/status', 'denied will']]) {
    const c = await connect(broker.mqttUrl, { username: 'alice', password: 'alice-pw', will: { topic, payload: Buffer.from(payload), qos: 1, retain: false } })
    c.stream.destroy() // no DISCONNECT: the will is due
  }
  await waitFor(() => seen.some(m => m.payload === 'allowed will'), 5000, 'allowed will')
  // The denial is logged before the will would be routed; a sentinel from alice comes after that.
  await waitFor(() => broker.logs.some(l => l.msg === 'publish denied by ACL' && l.topic === 'bob/status'), 5000, 'the denied will')
  await sentinel(await as('alice'), seen, 'alice/sentinel')
  assert.ok(!seen.some(m => m.payload === 'denied will'))
})
