// MQTT-3.2.2-2: a persistent session exists from its first CleanSession=0 CONNECT, whatever it
// holds, and Session Present is 1 on every later CleanSession=0 CONNECT while it exists; a
// CleanSession=1 CONNECT deletes it (MQTT-3.1.2-6). Aedes alone reported a session without
// subscriptions as absent (issue #14).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import mqttPacket from 'mqtt-packet'
import { startBroker, type BrokerOptions } from '../helpers/broker.js'
import { rawSession } from '../helpers/raw.js'
import { needRedis, startRedis } from '../helpers/redis.js'
import { tempDir, waitFor } from '../helpers/system.js'
import { files, subscribeCodes } from '../plugins/auth/auth-helpers.js'

/** Connects, reads Session Present from the CONNACK, disconnects cleanly. */
async function sessionPresent (url: string, clientId: string, clean: boolean): Promise<boolean> {
  const client = mqtt.connect(url, { clientId, clean, reconnectPeriod: 0, connectTimeout: 5000 })
  const present = await new Promise<boolean>((resolve, reject) => {
    client.once('connect', connack => resolve(connack.sessionPresent))
    client.once('error', reject)
  })
  await client.endAsync()
  return present
}

async function lifecycle (url: string, id: string): Promise<void> {
  assert.equal(await sessionPresent(url, id, false), false, 'a new session is not present')
  assert.equal(await sessionPresent(url, id, false), true, 'a session without subscriptions exists')
  assert.equal(await sessionPresent(url, id, true), false, 'a clean CONNECT answers 0 (MQTT-3.2.2-1)')
  assert.equal(await sessionPresent(url, id, false), false, '... and deleted the session')
  assert.equal(await sessionPresent(url, id, false), true)
}

for (const storage of ['embedded', 'memory'] as const) {
  test(`a persistent session without subscriptions is present on the next CONNECT, until a clean CONNECT deletes it (${storage} storage)`, async () => {
    const broker = await startBroker({ storage })
    try {
      await lifecycle(broker.mqttUrl, 'sp-test-1')
    } finally {
      await broker.stop()
    }
  })
}

test('a persistent session without subscriptions is present after a restart and after kill -9 (embedded storage)', async () => {
  const dir = tempDir()
  const opts: BrokerOptions = { dataDir: dir.path }
  let broker = await startBroker(opts)
  try {
    assert.equal(await sessionPresent(broker.mqttUrl, 'sp-restart', false), false)
    await broker.stop()
    broker = await startBroker(opts)
    assert.equal(await sessionPresent(broker.mqttUrl, 'sp-restart', false), true, 'after a restart')
    await broker.crash()
    broker = await startBroker(opts)
    assert.equal(await sessionPresent(broker.mqttUrl, 'sp-restart', false), true, 'after kill -9')
  } finally {
    await broker.stop()
    dir.remove()
  }
})

test('a persistent session is present on another cluster node, and a clean CONNECT there deletes it everywhere (redis storage)', { skip: needRedis() }, async () => {
  const redis = await startRedis()
  const a = await startBroker({ storage: 'redis', redisUrl: redis.url })
  const b = await startBroker({ storage: 'redis', redisUrl: redis.url })
  try {
    await lifecycle(a.mqttUrl, 'sp-cluster')
    assert.equal(await sessionPresent(b.mqttUrl, 'sp-cluster', false), true, 'node b sees the session made on node a')
    assert.equal(await sessionPresent(b.mqttUrl, 'sp-cluster', true), false)
    assert.equal(await sessionPresent(a.mqttUrl, 'sp-cluster', false), false, 'the clean CONNECT on node b deleted it')
  } finally {
    await a.stop()
    await b.stop()
    await redis.stop()
  }
})

test('a session whose every filter the ACL refused is still present on the next CONNECT', async () => {
  const f = files({ acl: 'topic read allowed/#\n' })
  const broker = await startBroker({ args: ['--acl-file', f.path('acl'), '--allow-anonymous'] })
  try {
    const client = mqtt.connect(broker.mqttUrl, { clientId: 'sp-refused', clean: false, reconnectPeriod: 0 })
    await new Promise(resolve => client.once('connect', resolve))
    assert.deepEqual(await subscribeCodes(client, ['secret/a', 'secret/b']), [128, 128])
    await client.endAsync()
    assert.equal(await sessionPresent(broker.mqttUrl, 'sp-refused', false), true)
  } finally {
    await broker.stop()
  }
})

test('$swallow/ topics are the broker\'s: a SUBSCRIBE there gets 0x80 beside a granted filter and a PUBLISH there closes the connection', async () => {
  const broker = await startBroker({ storage: 'memory' })
  try {
    assert.equal(await sessionPresent(broker.mqttUrl, 'sp-reserved', false), false)
    const session = await rawSession(broker.mqttPort, 'sp-reserved', false)
    // A persistent session: the granted filter is stored, which waits for every filter's decision.
    session.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$swallow/session', qos: 1 }, { topic: 'ok/+', qos: 1 }, { topic: '$swallow/#', qos: 0 }] }))
    const suback = await waitFor(() => session.received.find(p => p.cmd === 'suback'), 5000, 'SUBACK')
    assert.deepEqual((suback as mqttPacket.ISubackPacket).granted, [128, 1, 128])
    const closed = new Promise(resolve => session.socket.once('close', resolve))
    session.socket.write(mqttPacket.generate({ cmd: 'publish', topic: '$swallow/session', payload: 'x', qos: 1, messageId: 2, retain: false, dup: false }))
    await closed
    assert.ok(!session.received.some(p => p.cmd === 'puback'), 'not acknowledged')
  } finally {
    await broker.stop()
  }
})
