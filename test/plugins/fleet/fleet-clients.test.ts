// The fleet API on one node: who is connected (paged, filtered), one client's detail, kicking
// (MQTT 5: DISCONNECT 0x98) with and without its session, bulk kicks with a count, offline
// sessions, subscriptions and topics; bad input answers a JSON error and changes nothing.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { IDisconnectPacket } from 'mqtt-packet'
import { runCli, startBroker, type BrokerProcess } from '../../helpers/broker.js'
import { connect, connect5, type MqttClient } from '../../helpers/mqtt.js'
import { waitFor } from '../../helpers/system.js'
import { api, apiOf } from './fleet-helpers.js'

let broker: BrokerProcess
let call: ReturnType<typeof apiOf>
const clients: MqttClient[] = []

before(async () => {
  broker = await startBroker({ storage: 'memory', args: ['--sys-interval', 'off', '--admin-token', 'adm', '--admin-read-token', 'ro'] })
  call = apiOf(broker.httpUrl, 'adm')
})

after(async () => {
  for (const c of clients) c.end(true)
  await broker.stop()
})

async function client5 (clientId: string, opts: Record<string, unknown> = {}): Promise<MqttClient> {
  const c = await connect5(broker.mqttUrl, { clientId, ...opts })
  clients.push(c)
  return c
}

const ids = async (path: string): Promise<string[]> => (await call(path)).body.items.map((i: { clientId: string }) => i.clientId)

test('GET /api/clients lists connected clients with their figures, pages and filters', async () => {
  const a = await client5('fleet-a1', { username: 'alice' })
  await client5('fleet-a2', { username: 'alice', properties: { sessionExpiryInterval: 600 }, clean: false })
  const v3 = await connect(broker.mqttUrl, { clientId: 'fleet-b1', username: 'bob' })
  clients.push(v3)
  await a.subscribeAsync('plant/+/temp', { qos: 1 })
  await a.publishAsync('plant/1/temp', '21', { qos: 1 })

  const all = await call('/api/clients?prefix=fleet-')
  assert.equal(all.status, 200)
  assert.equal(all.body.total, 3)
  const first = all.body.items[0]
  assert.equal(first.clientId, 'fleet-a1')
  assert.equal(first.username, 'alice')
  assert.equal(first.protocolVersion, 5)
  assert.equal(first.transport, 'tcp')
  assert.equal(first.connected, true)
  assert.equal(first.subscriptions, 1)
  assert.equal(first.messagesIn, 1)
  assert.equal(first.messagesOut, 1, 'its own message came back through its subscription')
  assert.ok(first.bytesIn > 0 && first.bytesOut > 0)
  assert.ok(Date.now() - Date.parse(first.connectedAt) < 60_000)
  assert.equal(typeof first.node, 'string')
  assert.equal(all.body.items[1].persistent, true)
  assert.equal(all.body.items[1].sessionExpiry, 600)

  assert.deepEqual(await ids('/api/clients?prefix=fleet-&username=alice'), ['fleet-a1', 'fleet-a2'])
  assert.deepEqual(await ids('/api/clients?prefix=fleet-&protocol=4'), ['fleet-b1'])
  assert.deepEqual(await ids('/api/clients?prefix=fleet-&address=127.0.0.1&limit=1&page=3'), ['fleet-b1'])
  const paged = await call('/api/clients?prefix=fleet-&limit=2&page=2')
  assert.deepEqual({ total: paged.body.total, pages: paged.body.pages, page: paged.body.page, n: paged.body.items.length }, { total: 3, pages: 2, page: 2, n: 1 })
})

test('GET /api/clients/{id} shows its subscriptions with their MQTT 5 options and its will', async () => {
  const c = await client5('fleet-detail', { will: { topic: 'wills/d', payload: Buffer.from('gone'), qos: 1, retain: false } })
  await c.subscribeAsync('x/#', { qos: 2, nl: true, rap: true, rh: 1, properties: { subscriptionIdentifier: 7 } })
  const d = await call('/api/clients/fleet-detail')
  assert.equal(d.status, 200)
  assert.deepEqual(d.body.subscriptionList, [{ filter: 'x/#', qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 1, identifier: 7 }])
  assert.deepEqual(d.body.will, { topic: 'wills/d', qos: 1, retain: false, delay: 0, payloadBytes: 4 })
  assert.equal(d.body.inflight, 0)
  assert.equal(d.body.queued, 0)
})

test('DELETE /api/clients/{id} disconnects an MQTT 5 client with 0x98; ?session=true deletes its session', async () => {
  const keep = await client5('fleet-kick-keep', { clean: false, properties: { sessionExpiryInterval: 600 } })
  await keep.subscribeAsync('k/1', { qos: 1 })
  const told = new Promise<IDisconnectPacket>(resolve => keep.once('disconnect', resolve))
  const kicked = await call('/api/clients/fleet-kick-keep', 'DELETE')
  assert.deepEqual(kicked.body, { kicked: 1, clientId: 'fleet-kick-keep', sessionDeleted: false })
  assert.equal((await told).reasonCode, 0x98)
  const offline = await waitFor(async () => { const s = await call('/api/sessions/fleet-kick-keep'); return s.status === 200 && !s.body.connected ? s : null }, 5000, 'the offline session')
  assert.deepEqual(offline.body.subscriptionList, [{ filter: 'k/1', qos: 1 }])
  assert.ok(offline.body.expiresAt !== null)
  assert.ok((await ids('/api/sessions?prefix=fleet-kick')).includes('fleet-kick-keep'))
  assert.ok((await ids('/api/clients?state=offline&prefix=fleet-kick')).includes('fleet-kick-keep'))

  const drop = await client5('fleet-kick-drop', { clean: false, properties: { sessionExpiryInterval: 600 } })
  await drop.subscribeAsync('k/2', { qos: 1 })
  assert.equal((await call('/api/sessions/fleet-kick-drop')).body.connected, true)
  assert.equal((await call('/api/sessions/fleet-kick-drop', 'DELETE')).status, 409, 'a connected client\'s session is not deleted under it')
  const gone = new Promise<IDisconnectPacket>(resolve => drop.once('disconnect', resolve))
  assert.equal((await call('/api/clients/fleet-kick-drop?session=true', 'DELETE')).body.sessionDeleted, true)
  assert.equal((await gone).reasonCode, 0x98)
  await waitFor(async () => (await call('/api/sessions/fleet-kick-drop')).status === 404, 5000, 'the session deleted')

  assert.equal((await call('/api/sessions/fleet-kick-keep', 'DELETE')).status, 200)
  assert.equal((await call('/api/sessions/fleet-kick-keep')).status, 404)
  const back = await client5('fleet-kick-keep', { clean: false, properties: { sessionExpiryInterval: 600 } })
  assert.equal(back.connected, true)
  assert.deepEqual((await call('/api/clients/fleet-kick-keep')).body.subscriptionList, [], 'the deleted session is not restored')
})

test('bulk DELETE /api/clients by user name or prefix answers how many it closed', async () => {
  for (const id of ['bulk-1', 'bulk-2', 'bulk-3']) await client5(id, { username: id === 'bulk-3' ? 'carol' : 'dave' })
  assert.deepEqual((await call('/api/clients?username=dave', 'DELETE')).body, { kicked: 2, selector: { username: 'dave' }, sessionDeleted: false })
  await waitFor(async () => (await ids('/api/clients?prefix=bulk-')).join() === 'bulk-3', 5000, 'two kicked')
  assert.equal((await call('/api/clients?prefix=bulk-', 'DELETE')).body.kicked, 1)
  assert.equal((await call('/api/clients?prefix=nobody-', 'DELETE')).body.kicked, 0)
})

test('GET /api/subscriptions and /api/topics: who subscribes to what, by filter or by topic', async () => {
  const s1 = await client5('subs-1')
  const s2 = await client5('subs-2')
  await s1.subscribeAsync(['site/+/status', 'site/a/#'], { qos: 1 })
  await s2.subscribeAsync('site/+/status', { qos: 0 })
  const within = await call('/api/subscriptions?filter=site/%23')
  assert.deepEqual(within.body.items.map((s: { clientId: string, filter: string }) => `${s.clientId} ${s.filter}`), ['subs-1 site/+/status', 'subs-2 site/+/status', 'subs-1 site/a/#'])
  const reaching = await call('/api/subscriptions?topic=site/b/status')
  assert.deepEqual(reaching.body.items.map((s: { clientId: string }) => s.clientId), ['subs-1', 'subs-2'])
  const topics = await call('/api/topics?filter=site/%23')
  assert.deepEqual(topics.body.items, [{ filter: 'site/+/status', subscribers: 2, connected: 2, maxQos: 1 }, { filter: 'site/a/#', subscribers: 1, connected: 1, maxQos: 1 }])
})

test('bad input gets one JSON error with the right status, and changes nothing', async () => {
  await client5('victim')
  const before = await call('/api/clients?prefix=victim')
  const cases: Array<[string, string, string | undefined, number, string, unknown?]> = [
    ['GET', '/api/clients/nobody', 'adm', 404, 'unknown_client'],
    ['DELETE', '/api/clients/nobody', 'adm', 404, 'unknown_client'],
    ['DELETE', '/api/sessions/nobody', 'adm', 404, 'unknown_session'],
    ['GET', '/api/subscriptions?filter=a/%23/b', 'adm', 400, 'bad_filter'],
    ['GET', '/api/topics?filter=a%2B', 'adm', 400, 'bad_filter'],
    ['GET', '/api/subscriptions?topic=a/%2B', 'adm', 400, 'bad_topic'],
    ['GET', '/api/clients?page=99', 'adm', 400, 'page_out_of_range'],
    ['GET', '/api/clients?page=0', 'adm', 400, 'bad_page'],
    ['GET', '/api/clients?limit=5000', 'adm', 400, 'bad_limit'],
    ['GET', '/api/clients?protocol=6', 'adm', 400, 'bad_protocol'],
    ['GET', '/api/clients?state=sleeping', 'adm', 400, 'bad_state'],
    ['DELETE', '/api/clients', 'adm', 400, 'no_selector'],
    ['DELETE', '/api/clients/victim?session=maybe', 'adm', 400, 'bad_session'],
    ['POST', '/api/bans', 'adm', 400, 'bad_json', '{"kind": "clientId", '],
    ['POST', '/api/bans', 'adm', 400, 'bad_ban', { kind: 'hostname', value: 'victim' }],
    ['POST', '/api/publish', 'adm', 400, 'bad_json', '[1, 2]'],
    ['DELETE', '/api/clients/victim', undefined, 401, 'unauthorized'],
    ['DELETE', '/api/clients/victim', 'wrong', 401, 'unauthorized'],
    ['DELETE', '/api/clients/victim', 'ro', 403, 'read_only_token'],
    ['DELETE', '/api/clients?prefix=victim', 'ro', 403, 'read_only_token'],
    ['POST', '/api/bans', 'ro', 403, 'read_only_token', { kind: 'clientId', value: 'victim' }],
    ['POST', '/api/publish', 'ro', 403, 'read_only_token', { topic: 't', payload: 'x' }]
  ]
  for (const [method, path, token, status, code, body] of cases) {
    const res = await api(broker.httpUrl, path, token, method, body)
    assert.equal(res.status, status, `${method} ${path} (${token ?? 'no token'})`)
    assert.equal(res.body.error, code, `${method} ${path}`)
    assert.equal(typeof res.body.message, 'string')
  }
  assert.equal((await api(broker.httpUrl, '/api/clients?prefix=victim', 'ro')).status, 200, 'the read-only token may read')
  const after = await call('/api/clients?prefix=victim')
  assert.deepEqual(after.body.items.map((c: { clientId: string, connectedAt: string }) => c.clientId + c.connectedAt), before.body.items.map((c: { clientId: string, connectedAt: string }) => c.clientId + c.connectedAt), 'still connected, same connection')
  assert.deepEqual((await call('/api/bans')).body.items, [])
})

test('every change is logged at info with the token that made it', async () => {
  await client5('audited')
  await call('/api/clients/audited', 'DELETE')
  const line = await waitFor(() => broker.logs.find(l => l.action === 'kick' && l.clientId === 'audited'), 5000, 'the audit line')
  assert.equal(line.level, 30)
  assert.equal(line.actor, 'admin-token')
})

test('--admin-read-token without a different --admin-token is a config error (exit 2, one line)', async () => {
  for (const args of [['--admin-read-token', 'ro'], ['--admin-token', 'same', '--admin-read-token', 'same']]) {
    const out = await runCli(['start', '--storage', 'memory', '--mqtt-port', '0', '--ws-port', 'off', '--http-port', '0', ...args])
    assert.equal(out.code, 2)
    assert.match(out.stderr, /^swallow: --admin-read-token: needs an --admin-token that differs from it/)
    assert.equal(out.stderr.trim().split('\n').length, 1)
  }
})

test('an unknown /api route and a wrong method answer { error, message } too', async () => {
  assert.deepEqual((await call('/api/nope')).body, { error: 'no_route', message: 'no route /api/nope' })
  const put = await call('/api/clients', 'PUT')
  assert.equal(put.status, 405)
  assert.equal(put.body.error, 'method_not_allowed')
})
