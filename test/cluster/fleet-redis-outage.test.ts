// Bans with Redis storage while Redis is unreachable: CONNECT keeps refusing the bans the
// node knew, a new ban is refused with 503 (nothing changes), and the client list answers
// for this node.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker } from '../helpers/broker.js'
import { rawMqtt, reasonOf } from '../helpers/raw5.js'
import { needRedis, startRedis } from '../helpers/redis.js'
import { apiOf } from '../plugins/fleet/fleet-helpers.js'

const skip = needRedis()

test('during a Redis outage the known bans still apply and changes answer 503', { skip }, async () => {
  const redis = await startRedis()
  const broker = await startBroker({ storage: 'redis', redisUrl: redis.url, args: ['--admin-token', 'adm'] })
  const call = apiOf(broker.httpUrl, 'adm')
  try {
    assert.equal((await call('/api/bans', 'POST', { kind: 'clientId', value: 'out-banned' })).status, 201)
    const live = await rawMqtt(broker.mqttPort, 5, { clientId: 'out-live' })
    await redis.crash()
    const refused = await rawMqtt(broker.mqttPort, 5, { clientId: 'out-banned' })
    assert.equal(reasonOf(refused.received.find(p => p.cmd === 'connack') as never), 0x8a)
    refused.socket.destroy()
    const added = await call('/api/bans', 'POST', { kind: 'clientId', value: 'out-other' })
    assert.equal(added.status, 503)
    assert.equal(added.body.error, 'storage_unavailable')
    assert.deepEqual((await call('/api/bans')).body.items.map((b: { value: string }) => b.value), ['out-banned'])
    const listed = await call('/api/clients?prefix=out-')
    assert.equal(listed.status, 200)
    assert.deepEqual(listed.body.items.map((c: { clientId: string }) => c.clientId), ['out-live'])
    live.socket.destroy()
  } finally {
    await redis.start()
    await broker.stop()
    await redis.stop()
  }
})
