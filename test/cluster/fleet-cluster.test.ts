// The fleet API on a two-node Redis cluster: either node answers for both (clients, one
// client, subscriptions, nodes), kicks and bans reach a client on the other node, the
// presence stream of one node has the other's connects, and bans live in Redis.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IDisconnectPacket } from 'mqtt-packet'
import { startBroker } from '../helpers/broker.js'
import { twoNodesForFile } from '../helpers/cluster.js'
import { connect5, type MqttClient } from '../helpers/mqtt.js'
import { rawMqtt, reasonOf, type Raw5 } from '../helpers/raw5.js'
import { needRedis } from '../helpers/redis.js'
import { waitFor } from '../helpers/system.js'
import { apiOf } from '../plugins/fleet/fleet-helpers.js'

const skip = needRedis()
const nodes = twoNodesForFile(skip)

// The helper starts the nodes without --admin-token: their listeners are loopback-only.
const onA = (path: string, method = 'GET', body?: unknown): ReturnType<ReturnType<typeof apiOf>> => apiOf(nodes.a.httpUrl, '')(path, method, body)

test('either node lists, shows and kicks the clients of both', { skip }, async () => {
  const onB = apiOf(nodes.b.httpUrl, '')
  const a1 = await connect5(nodes.a.mqttUrl, { clientId: 'cl-a1' })
  const b1 = await connect5(nodes.b.mqttUrl, { clientId: 'cl-b1', username: 'bee' })
  const b2 = await connect5(nodes.b.mqttUrl, { clientId: 'cl-b2', username: 'bee' })
  try {
    await b1.subscribeAsync('cl/+/x', { qos: 1 })
    const list = await onA('/api/clients?prefix=cl-')
    assert.deepEqual(list.body.items.map((c: { clientId: string }) => c.clientId), ['cl-a1', 'cl-b1', 'cl-b2'])
    const nodeOf = Object.fromEntries(list.body.items.map((c: { clientId: string, node: string }) => [c.clientId, c.node]))
    assert.notEqual(nodeOf['cl-a1'], nodeOf['cl-b1'])
    assert.deepEqual((await onA(`/api/clients?prefix=cl-&node=${nodeOf['cl-b1']}`)).body.total, 2)
    const nodeList = (await onB('/api/nodes')).body.items
    assert.equal(nodeList.length, 2)
    assert.equal(nodeList[0].self, true)
    assert.equal(nodeList[0].id, nodeOf['cl-b1'])

    const detail = await onA('/api/clients/cl-b1')
    assert.equal(detail.status, 200)
    assert.deepEqual(detail.body.subscriptionList.map((s: { filter: string }) => s.filter), ['cl/+/x'])
    assert.deepEqual((await onA('/api/subscriptions?topic=cl/1/x')).body.items.map((s: { clientId: string }) => s.clientId), ['cl-b1'])

    const told = new Promise<IDisconnectPacket>(resolve => b1.once('disconnect', resolve))
    assert.equal((await onA('/api/clients/cl-b1', 'DELETE')).body.kicked, 1)
    assert.equal((await told).reasonCode, 0x98)
    assert.equal((await onA('/api/clients?username=bee', 'DELETE')).body.kicked, 1)
    await waitFor(async () => (await onB('/api/clients?prefix=cl-')).body.total === 1, 5000, 'only cl-a1 left')
  } finally {
    for (const c of [a1, b1, b2] as MqttClient[]) c.end(true)
  }
})

test('a ban added on one node closes and refuses the client on the other, and stays in Redis', { skip }, async () => {
  const victim = await connect5(nodes.b.mqttUrl, { clientId: 'cl-banned', reconnectPeriod: 0 })
  const told = new Promise<IDisconnectPacket>(resolve => victim.once('disconnect', resolve))
  const added = await onA('/api/bans', 'POST', { kind: 'clientId', value: 'cl-banned' })
  assert.equal(added.status, 201)
  assert.equal(added.body.kicked, 1)
  assert.equal((await told).reasonCode, 0x98)
  const refused = await waitFor(async () => {
    const c = await rawMqtt(nodes.b.mqttPort, 5, { clientId: 'cl-banned' })
    c.socket.destroy()
    const code = reasonOf(c.received.find(p => p.cmd === 'connack') as never)
    return code === 0x8a ? code : null
  }, 5000, 'node b refusing the banned id')
  assert.equal(refused, 0x8a)

  // A third node started afterwards loads the bans from Redis.
  const c = await startBroker({ storage: 'redis', redisUrl: nodes.redis.url })
  try {
    const raw = await rawMqtt(c.mqttPort, 4, { clientId: 'cl-banned' })
    assert.equal((raw.received.find(p => p.cmd === 'connack') as { returnCode?: number }).returnCode, 5)
    raw.socket.destroy()
  } finally {
    await c.stop()
  }
  assert.equal((await apiOf(nodes.b.httpUrl, '')('/api/bans/clientId/cl-banned', 'DELETE')).status, 200)
  // Node a hears of the removal through Redis pub/sub: soon, not at once.
  await waitFor(async () => (await onA('/api/bans')).body.items.length === 0, 5000, 'node a no longer listing the ban')
})

test('the event stream of one node has the connects and disconnects of the other', { skip }, async () => {
  const abort = new AbortController()
  const res = await fetch(`${nodes.a.httpUrl}/api/events`, { signal: abort.signal })
  const events: Array<{ type: string, clientId?: string, node?: string }> = []
  const reading = (async () => {
    const decoder = new TextDecoder()
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        for (const line of decoder.decode(chunk).split('\n')) if (line.startsWith('data: ')) events.push(JSON.parse(line.slice(6)))
      }
    } catch {}
  })()
  const b = await connect5(nodes.b.mqttUrl, { clientId: 'cl-presence' })
  await b.endAsync()
  const seen = await waitFor(() => {
    const mine = events.filter(e => e.clientId === 'cl-presence')
    return mine.length >= 2 ? mine : null
  }, 5000, 'both presence events on node a')
  assert.deepEqual(seen.map(e => e.type), ['connected', 'disconnected'])
  const nodeB = (await apiOf(nodes.b.httpUrl, '')('/api/nodes')).body.items[0].id
  assert.equal(seen[0].node, nodeB)
  abort.abort()
  await reading
})

test('sessions are the cluster\'s: an offline one is listed on both nodes, a connected one on the other node is not deleted', { skip }, async () => {
  const onB = apiOf(nodes.b.httpUrl, '')
  const gone = await connect5(nodes.b.mqttUrl, { clientId: 'cl-offline', clean: false, properties: { sessionExpiryInterval: 600 } })
  await gone.subscribeAsync('cl/offline', { qos: 1 })
  await gone.endAsync()
  const here = await connect5(nodes.b.mqttUrl, { clientId: 'cl-online', clean: false, properties: { sessionExpiryInterval: 600 } })
  try {
    await waitFor(async () => (await onA('/api/sessions?prefix=cl-')).body.items.map((s: { clientId: string }) => s.clientId).join() === 'cl-offline', 5000, 'the offline session on node a')
    assert.deepEqual((await onB('/api/sessions/cl-offline')).body.subscriptionList, [{ filter: 'cl/offline', qos: 1 }])
    const refused = await onA('/api/sessions/cl-online', 'DELETE')
    assert.equal(refused.status, 409, 'connected on node b')
    assert.equal((await onA('/api/sessions/cl-offline', 'DELETE')).status, 200)
    assert.equal((await onB('/api/sessions/cl-offline')).status, 404)
  } finally {
    here.end(true)
  }
})

test('ages are the cluster\'s: node a shows when a session on node b went offline, and the time of a message in flight on node b', { skip }, async () => {
  const offFrom = Date.now()
  const gone = await connect5(nodes.b.mqttUrl, { clientId: 'cl-age-off', clean: false, properties: { sessionExpiryInterval: 600 } })
  await gone.subscribeAsync('cl/age/off', { qos: 1 })
  await gone.endAsync()
  const off = await waitFor(async () => { const s = (await onA('/api/sessions/cl-age-off')).body; return s.disconnectedAt !== null ? s : null }, 5000, 'the offline time on node a')
  assert.ok(Date.parse(off.disconnectedAt) >= offFrom && Date.parse(off.disconnectedAt) <= Date.now())
  // Stored by node a, delivered live on node b to a session that never acknowledges it: node
  // b's in-flight record (the PUBLISH it sent) keeps the time that came with the route entry.
  const raw = await rawMqtt(nodes.b.mqttPort, 4, { clientId: 'cl-age-raw', clean: false })
  const pub = await connect5(nodes.a.mqttUrl, { clientId: 'cl-age-pub' })
  try {
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'cl/age/raw', qos: 1 }] })
    await raw.next(p => p.cmd === 'suback', 'SUBACK')
    const sentFrom = Date.now()
    await publishUntil(pub, raw)
    const d = (await onA('/api/clients/cl-age-raw')).body
    assert.ok(d.storedQueue >= 1)
    assert.ok(Date.parse(d.oldestQueuedAt) >= sentFrom && Date.parse(d.oldestQueuedAt) <= Date.now(), `oldestQueuedAt ${String(d.oldestQueuedAt)}`)
  } finally {
    pub.end(true)
    raw.socket.destroy()
    await onA('/api/sessions/cl-age-off', 'DELETE')
  }
})

/** The subscription reaches node a's router once node b announced it: publish until the raw session gets one. */
async function publishUntil (pub: MqttClient, raw: Raw5): Promise<void> {
  await waitFor(async () => {
    if (raw.received.some(p => p.cmd === 'publish')) return true
    await pub.publishAsync('cl/age/raw', 'x', { qos: 1 })
    return raw.received.some(p => p.cmd === 'publish')
  }, 5000, 'the message on node b')
}
