// Bans by client id, user name and address: CONNACK 0x8A (MQTT 5) / 0x05 (3.1.1), the
// connection a ban matches is closed, an expiry ends it, and the embedded store keeps them
// across kill -9 (memory storage: gone with the process, as its sessions are).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IDisconnectPacket } from 'mqtt-packet'
import { startBroker } from '../../helpers/broker.js'
import { connect5 } from '../../helpers/mqtt.js'
import { rawMqtt, reasonOf } from '../../helpers/raw5.js'
import { waitFor } from '../../helpers/system.js'
import { apiOf } from './fleet-helpers.js'

const ARGS = ['--sys-interval', 'off', '--admin-token', 'adm']

async function connackOf (port: number, version: 4 | 5, fields: Record<string, unknown>): Promise<number> {
  const c = await rawMqtt(port, version, fields)
  const connack = c.received.find(p => p.cmd === 'connack') as { returnCode?: number, reasonCode?: number }
  c.socket.destroy()
  return version === 5 ? reasonOf(connack as never) : connack.returnCode ?? -1
}

test('a banned client id, user name or address gets CONNACK 0x8A (v5) / 0x05 (v3); a connected one is closed', async () => {
  const broker = await startBroker({ storage: 'memory', args: ARGS })
  const call = apiOf(broker.httpUrl, 'adm')
  try {
    const victim = await connect5(broker.mqttUrl, { clientId: 'bad-device', reconnectPeriod: 0 })
    const told = new Promise<IDisconnectPacket>(resolve => victim.once('disconnect', resolve))
    const added = await call('/api/bans', 'POST', { kind: 'clientId', value: 'bad-device', reason: 'floods' })
    assert.equal(added.status, 201)
    assert.equal(added.body.kicked, 1)
    assert.equal(added.body.by, 'admin-token')
    assert.equal((await told).reasonCode, 0x98)
    assert.equal(await connackOf(broker.mqttPort, 5, { clientId: 'bad-device' }), 0x8a)
    assert.equal(await connackOf(broker.mqttPort, 4, { clientId: 'bad-device' }), 5)
    assert.equal(await connackOf(broker.mqttPort, 5, { clientId: 'good-device' }), 0, 'others still connect')

    await call('/api/bans', 'POST', { kind: 'username', value: 'mallory' })
    assert.equal(await connackOf(broker.mqttPort, 5, { clientId: 'm1', username: 'mallory' }), 0x8a)
    assert.deepEqual((await call('/api/bans')).body.items.map((b: { kind: string, value: string, reason: string | null }) => [b.kind, b.value, b.reason]),
      [['clientId', 'bad-device', 'floods'], ['username', 'mallory', null]])

    assert.equal((await call('/api/bans/clientId/bad-device', 'DELETE')).status, 200)
    assert.equal((await call('/api/bans/clientId/bad-device', 'DELETE')).status, 404)
    assert.equal(await connackOf(broker.mqttPort, 5, { clientId: 'bad-device' }), 0, 'unbanned')

    // Last: this bans the tests' own address.
    await call('/api/bans', 'POST', { kind: 'address', value: '127.0.0.1' })
    assert.equal(await connackOf(broker.mqttPort, 4, { clientId: 'anyone' }), 5)
    assert.equal((await call('/api/bans/address/127.0.0.1', 'DELETE')).status, 200)
  } finally {
    await broker.stop()
  }
})

test('a ban with an expiry lets the client back once it passed', async () => {
  const broker = await startBroker({ storage: 'memory', args: ARGS })
  const call = apiOf(broker.httpUrl, 'adm')
  try {
    const res = await call('/api/bans', 'POST', { kind: 'clientId', value: 'timeout-device', expiresIn: 1 })
    assert.ok(Date.parse(res.body.expiresAt) - Date.now() <= 1000)
    assert.equal(await connackOf(broker.mqttPort, 5, { clientId: 'timeout-device' }), 0x8a)
    await waitFor(async () => await connackOf(broker.mqttPort, 5, { clientId: 'timeout-device' }) === 0, 5000, 'the ban to expire')
    assert.deepEqual((await call('/api/bans')).body.items, [], 'an expired ban is not listed')
  } finally {
    await broker.stop()
  }
})

test('embedded storage keeps bans across kill -9; memory storage forgets them at exit', async () => {
  const embedded = await startBroker({ args: ARGS })
  await apiOf(embedded.httpUrl, 'adm')('/api/bans', 'POST', { kind: 'clientId', value: 'stays-banned' })
  await embedded.crash()
  const again = await startBroker({ args: ARGS, dataDir: embedded.dataDir })
  try {
    assert.deepEqual((await apiOf(again.httpUrl, 'adm')('/api/bans')).body.items.map((b: { value: string }) => b.value), ['stays-banned'])
    assert.equal(await connackOf(again.mqttPort, 5, { clientId: 'stays-banned' }), 0x8a)
  } finally {
    await again.stop()
  }

  const memory = await startBroker({ storage: 'memory', args: ARGS })
  await apiOf(memory.httpUrl, 'adm')('/api/bans', 'POST', { kind: 'clientId', value: 'forgotten' })
  await memory.stop()
  const fresh = await startBroker({ storage: 'memory', args: ARGS })
  try {
    assert.deepEqual((await apiOf(fresh.httpUrl, 'adm')('/api/bans')).body.items, [])
  } finally {
    await fresh.stop()
  }
})
