// POST /api/publish takes the path of a client's PUBLISH (offline queues, retained store,
// MQTT 5 properties); POST /api/reload does what SIGHUP does; /api/events and
// $SYS/broker/clients/<id>/... tell backends who came and went; /api/openapi.json
// describes every route.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { runCli, startBroker, type BrokerProcess } from '../../helpers/broker.js'
import { connect, connect5, connect5Collecting, connectCollecting } from '../../helpers/mqtt.js'
import { run, tempDir, waitFor } from '../../helpers/system.js'
import { apiOf } from './fleet-helpers.js'

let broker: BrokerProcess
let call: ReturnType<typeof apiOf>
const dir = tempDir()

before(async () => {
  writeFileSync(`${dir.path}/passwords`, '')
  // $SYS every 100 ms: its clients/connected count must not read as presence.
  broker = await startBroker({ args: ['--sys-interval', '100ms', '--admin-token', 'adm', '--password-file', `${dir.path}/passwords`, '--allow-anonymous', 'true'] })
  call = apiOf(broker.httpUrl, 'adm')
})

after(async () => {
  await broker.stop()
  dir.remove()
})

test('a backend message reaches a persistent session\'s queue while it is offline, and the retained store', async () => {
  const sub = await connect5(broker.mqttUrl, { clientId: 'queued-sub', clean: false, properties: { sessionExpiryInterval: 600 } })
  await sub.subscribeAsync('cmd/#', { qos: 1 })
  await sub.endAsync()
  const res = await call('/api/publish', 'POST', {
    topic: 'cmd/reboot', payloadBase64: Buffer.from([1, 2, 3]).toString('base64'), qos: 1, retain: true,
    properties: { contentType: 'application/octet-stream', userProperties: { by: 'ops' }, correlationData: Buffer.from('c1').toString('base64'), messageExpiryInterval: 600 }
  })
  assert.deepEqual(res.body, { published: true, topic: 'cmd/reboot', qos: 1, retain: true, bytes: 3 })
  assert.equal((await call('/api/sessions/queued-sub')).body.queued, 1, 'stored in its queue before the answer')
  const back = await connect5Collecting(broker.mqttUrl, { clientId: 'queued-sub', clean: false, properties: { sessionExpiryInterval: 600 } })
  const got = await waitFor(() => back.got[0], 5000, 'the queued message')
  assert.deepEqual([...got.payload as Buffer], [1, 2, 3])
  assert.equal(got.properties?.contentType, 'application/octet-stream')
  assert.deepEqual({ ...got.properties?.userProperties }, { by: 'ops' })
  assert.equal(Buffer.from(got.properties?.correlationData as Buffer).toString(), 'c1')
  await back.client.endAsync()
  const retained = await fetch(`${broker.httpUrl}/api/retained/one?topic=cmd/reboot`, { headers: { authorization: 'Bearer adm' } })
  assert.equal((await retained.json() as { size: number }).size, 3)
})

test('publish refuses a reserved topic, a wildcard and bad properties', async () => {
  for (const [body, code] of [
    [{ topic: '$SYS/broker/x', payload: 'x' }, 'reserved_topic'],
    [{ topic: 'a/+', payload: 'x' }, 'bad_topic'],
    [{ topic: 'a', payload: 'x', qos: 3 }, 'bad_qos'],
    [{ topic: 'a', payload: 'x', properties: { topicAlias: 1 } }, 'bad_properties'],
    [{ topic: 'a', payload: 1 }, 'bad_payload']
  ] as const) {
    const res = await call('/api/publish', 'POST', body)
    assert.equal(res.status, 400)
    assert.equal(res.body.error, code)
  }
})

test('POST /api/reload reloads what SIGHUP does and says what', async () => {
  const made = await run('mosquitto_passwd', ['-b', `${dir.path}/passwords`, 'erin', 'pw'])
  assert.equal(made.code, 0, made.stderr)
  const res = await call('/api/reload', 'POST')
  assert.equal(res.status, 200)
  assert.equal(res.body.ok, true)
  assert.match(res.body.summary, /^reloaded \(admin API\): .*passwords reloaded \(1 user\)/)
  const erin = await connect(broker.mqttUrl, { username: 'erin', password: 'pw' })
  await erin.endAsync()
})

test('presence: /api/events streams connects, disconnects and admin actions; $SYS/broker/clients/<id>/... carries JSON, not retained', async () => {
  const watcher = await connect(broker.mqttUrl, { clientId: 'watcher' })
  const presence: Array<{ topic: string, body: any, retain: boolean }> = []
  watcher.on('message', (topic, payload, packet) => presence.push({ topic, body: JSON.parse(payload.toString()), retain: packet.retain }))
  await watcher.subscribeAsync('$SYS/broker/clients/+/+')
  const events: string[] = []
  const abort = new AbortController()
  const res = await fetch(`${broker.httpUrl}/api/events`, { headers: { authorization: 'Bearer adm' }, signal: abort.signal })
  assert.equal(res.headers.get('content-type'), 'text/event-stream')
  const reading = (async () => {
    const decoder = new TextDecoder()
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) events.push(...decoder.decode(chunk).split('\n').filter(l => l.startsWith('data: ')).map(l => l.slice(6)))
    } catch {}
  })()
  const d = await connect5(broker.mqttUrl, { clientId: 'presence-1' })
  await call('/api/clients/presence-1', 'DELETE')
  await waitFor(() => presence.some(p => p.topic === '$SYS/broker/clients/presence-1/disconnected'), 5000, 'the disconnected message')
  const connected = presence.find(p => p.topic === '$SYS/broker/clients/presence-1/connected')
  assert.equal(connected?.retain, false)
  assert.equal(connected?.body.remoteAddress, '127.0.0.1')
  assert.equal(connected?.body.protocolVersion, 5)
  const types = await waitFor(() => {
    const t = events.map(e => JSON.parse(e) as { type: string, clientId?: string }).filter(e => e.clientId === 'presence-1').map(e => e.type)
    return t.length >= 3 ? t : null
  }, 5000, 'three events')
  assert.deepEqual(types.sort(), ['connected', 'disconnected', 'kicked'])
  const presenceEvents = events.map(e => JSON.parse(e) as { type: string, clientId?: string }).filter(e => e.type === 'connected' || e.type === 'disconnected')
  assert.ok(presenceEvents.every(e => typeof e.clientId === 'string'), JSON.stringify(presenceEvents))
  d.end(true)
  abort.abort()
  await reading
  await watcher.endAsync()
})

test('presence: built only while someone listens, and still sent after subscribers came, re-subscribed, unsubscribed and left', async () => {
  const { client: watcher, got } = await connectCollecting(broker.mqttUrl, { clientId: 'presence-watcher' })
  await watcher.subscribeAsync('$SYS/broker/clients/+/connected')
  await watcher.subscribeAsync('$SYS/broker/clients/+/connected') // the same filter again: counted once
  const other = await connect(broker.mqttUrl, { clientId: 'presence-other' })
  await other.subscribeAsync('$SYS/#')
  await other.unsubscribeAsync('$SYS/#')
  await other.subscribeAsync('$SYS/broker/#')
  await other.endAsync() // its subscription is counted out with the connection
  const first = await connect(broker.mqttUrl, { clientId: 'presence-2' })
  await waitFor(() => got.some(m => m.topic === '$SYS/broker/clients/presence-2/connected'), 5000, 'presence-2 announced')
  await watcher.unsubscribeAsync('$SYS/broker/clients/+/connected')
  await watcher.subscribeAsync('$SYS/broker/clients/+/connected')
  const second = await connect(broker.mqttUrl, { clientId: 'presence-3' })
  await waitFor(() => got.some(m => m.topic === '$SYS/broker/clients/presence-3/connected'), 5000, 'presence-3 announced')
  await Promise.all([first.endAsync(), second.endAsync(), watcher.endAsync()])
})

test('GET /api/openapi.json describes every fleet route', async () => {
  const doc = (await call('/api/openapi.json')).body
  assert.equal(doc.openapi, '3.1.0')
  for (const path of ['/api/clients', '/api/clients/{id}', '/api/sessions', '/api/sessions/{id}', '/api/subscriptions', '/api/topics', '/api/bans', '/api/bans/{kind}/{value}', '/api/publish', '/api/reload', '/api/events', '/api/nodes', '/api/openapi.json']) {
    assert.ok(doc.paths[path], path)
  }
})

test('with ACL rules in force: a trusted backend publish is delivered; `as` applies that identity\'s ACL (403 and nothing delivered when denied); swallow ctl publish --as-user / --as-client', async () => {
  const aclDir = tempDir()
  // Anonymous clients read everything here and write nothing but open/; alice writes alice/;
  // every client id writes devices/<its id>/.
  writeFileSync(`${aclDir.path}/acl`, 'topic readwrite open/#\ntopic read closed/#\ntopic read devices/#\ntopic read alice/#\nuser alice\ntopic write alice/#\npattern write devices/%c/#\n')
  const guarded = await startBroker({ storage: 'memory', args: ['--sys-interval', 'off', '--admin-token', 'adm', '--admin-read-token', 'ro', '--acl-file', `${aclDir.path}/acl`] })
  const post = apiOf(guarded.httpUrl, 'adm')
  try {
    const sub = await connect(guarded.mqttUrl, { clientId: 'acl-sub' })
    const got: string[] = []
    sub.on('message', (t, p) => got.push(`${t} ${p.toString()}`))
    await sub.subscribeAsync(['closed/#', 'devices/#', 'alice/#'], { qos: 1 })

    // Trusted (the full admin token, no `as`): no client ACL applies; 200 once stored.
    const trusted = await post('/api/publish', 'POST', { topic: 'closed/x', payload: 'trusted', qos: 1 })
    assert.equal(trusted.status, 200)
    assert.equal(trusted.body.as, undefined)
    await waitFor(() => got.includes('closed/x trusted'), 5000, 'the trusted message')

    // `as` an identity the ACL denies: 403, a clear error, nothing published.
    const denied = await post('/api/publish', 'POST', { topic: 'closed/x', payload: 'denied', qos: 1, as: { username: 'alice' } })
    assert.equal(denied.status, 403)
    assert.equal(denied.body.error, 'not_authorized')
    assert.match(denied.body.message, /user "alice" may not publish to "closed\/x"/)
    const wrongDevice = await post('/api/publish', 'POST', { topic: 'devices/dev1/up', payload: 'denied', qos: 1, as: { clientId: 'dev2' } })
    assert.equal(wrongDevice.status, 403)

    // `as` an identity the ACL allows: delivered, and the answer says as whom.
    const asAlice = await post('/api/publish', 'POST', { topic: 'alice/x', payload: 'as-alice', qos: 1, as: { username: 'alice', clientId: 'backend-1' } })
    assert.equal(asAlice.status, 200)
    assert.deepEqual(asAlice.body.as, { username: 'alice', clientId: 'backend-1' })
    const asDevice = await post('/api/publish', 'POST', { topic: 'devices/dev1/up', payload: 'as-dev1', qos: 1, as: { clientId: 'dev1' } })
    assert.equal(asDevice.status, 200)

    assert.equal((await post('/api/publish', 'POST', { topic: 'alice/x', payload: 'x', as: { name: 'alice' } })).body.error, 'bad_as')
    assert.equal((await post('/api/publish', 'POST', { topic: 'alice/x', payload: 'x', as: {} })).body.error, 'bad_as')
    assert.equal((await apiOf(guarded.httpUrl, 'ro')('/api/publish', 'POST', { topic: 'open/x', payload: 'ro' })).status, 403, 'the read-only token')

    // swallow ctl: --as-user / --as-client; a refusal exits 4.
    const env = { SWALLOW_URL: guarded.httpUrl, SWALLOW_TOKEN: 'adm' }
    const ctlDenied = await runCli(['ctl', 'publish', 'closed/x', 'ctl-denied', '--qos', '1', '--as-user', 'alice'], env)
    assert.equal(ctlDenied.code, 4, ctlDenied.stderr)
    assert.match(ctlDenied.stderr, /may not publish/)
    const ctlAllowed = await runCli(['ctl', 'publish', 'devices/dev3/up', 'ctl-dev3', '--qos', '1', '--as-client', 'dev3'], env)
    assert.equal(ctlAllowed.code, 0, ctlAllowed.stderr)

    // Sentinel: a trusted message after all of them arrives; none of the denied ones did.
    await post('/api/publish', 'POST', { topic: 'closed/x', payload: 'sentinel', qos: 1 })
    await waitFor(() => got.includes('closed/x sentinel'), 5000, 'the sentinel')
    assert.deepEqual(got, ['closed/x trusted', 'alice/x as-alice', 'devices/dev1/up as-dev1', 'devices/dev3/up ctl-dev3', 'closed/x sentinel'])
    await sub.endAsync()
  } finally {
    await guarded.stop()
    aclDir.remove()
  }
})
