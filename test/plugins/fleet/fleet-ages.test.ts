// The ages the fleet API reports, on each storage and across a restart: when an offline
// persistent session went offline (disconnectedAt, offlineSeconds: the $swallow/offline/
// marker stored at disconnect) and when its oldest queued message was received
// (oldestQueuedAt, oldestQueuedSeconds: the time the route stores with a QoS 1/2 message),
// also once that message is in flight (sent, not acknowledged: LevelDB and Redis then keep
// the PUBLISH sent, which carries the time). The raw session has a topic of its own: with
// Redis storage a message queued for several sessions is one record, which the first
// delivery's packet id then marks as in flight for all of them (aedes-persistence-redis).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker, type BrokerOptions, type BrokerProcess } from '../../helpers/broker.js'
import { connect, connect5, connect5Collecting } from '../../helpers/mqtt.js'
import { rawMqtt } from '../../helpers/raw5.js'
import { needRedis, startRedis } from '../../helpers/redis.js'
import { tempDir, waitFor } from '../../helpers/system.js'
import { apiOf } from './fleet-helpers.js'

const ARGS = ['--sys-interval', 'off', '--admin-token', 'adm']

const between = (iso: unknown, from: number, to: number, what: string): void => {
  assert.equal(typeof iso, 'string', `${what}: ${String(iso)}`)
  const t = Date.parse(iso as string)
  assert.ok(t >= from && t <= to, `${what} ${String(iso)} within ${new Date(from).toISOString()}..${new Date(to).toISOString()}`)
}

async function scenario (opts: BrokerOptions, restart: boolean): Promise<void> {
  let broker: BrokerProcess = await startBroker({ ...opts, args: ARGS })
  let call = apiOf(broker.httpUrl, 'adm')
  const session = async (id: string): Promise<any> => (await call(`/api/sessions/${id}`)).body
  try {
    // An MQTT 5 session with an expiry, an MQTT 3.1.1 one that never expires, and a raw
    // 3.1.1 one that never acknowledges what it gets.
    const s5 = await connect5(broker.mqttUrl, { clientId: 'age-5', clean: false, properties: { sessionExpiryInterval: 3600 } })
    await s5.subscribeAsync('age/t', { qos: 1 })
    const s3 = await connect(broker.mqttUrl, { clientId: 'age-3', clean: false })
    await s3.subscribeAsync('age/t', { qos: 1 })
    const raw = await rawMqtt(broker.mqttPort, 4, { clientId: 'age-raw', clean: false })
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'age/raw', qos: 1 }] })
    await raw.next(p => p.cmd === 'suback', 'SUBACK')

    const offFrom = Date.now()
    s5.end()
    s3.end()
    await waitFor(async () => (await session('age-5')).disconnectedAt !== null && (await session('age-3')).disconnectedAt !== null, 5000, 'both offline with a time')
    const offTo = Date.now()

    const pub = await connect5(broker.mqttUrl, { clientId: 'age-pub' })
    const sentFrom = Date.now()
    await pub.publishAsync('age/t', 'one', { qos: 1 })
    await pub.publishAsync('age/raw', 'one', { qos: 1 })
    const sentTo = Date.now()
    pub.end()
    await raw.next(p => p.cmd === 'publish', 'the message, live, to the raw session (never acknowledged)')

    const before = { a5: await session('age-5'), a3: await session('age-3') }
    for (const s of [before.a5, before.a3]) {
      between(s.disconnectedAt, offFrom, offTo, `${s.clientId} disconnectedAt`)
      assert.equal(typeof s.offlineSeconds, 'number')
      assert.equal(s.queued, 1)
      between(s.oldestQueuedAt, sentFrom, sentTo, `${s.clientId} oldestQueuedAt`)
      assert.equal(typeof s.oldestQueuedSeconds, 'number')
    }
    assert.notEqual(before.a5.expiresAt, null)
    assert.equal(before.a3.expiresAt, null, 'never expires')
    const listed = (await call('/api/sessions?prefix=age-')).body.items
    assert.deepEqual(listed.map((s: any) => [s.clientId, s.disconnectedAt, s.oldestQueuedAt]),
      [['age-3', before.a3.disconnectedAt, before.a3.oldestQueuedAt], ['age-5', before.a5.disconnectedAt, before.a5.oldestQueuedAt]])
    // A connected persistent client: its in-flight message's time, from its stored queue.
    const live = (await call('/api/clients/age-raw')).body
    assert.equal(live.storedQueue, 1)
    between(live.oldestQueuedAt, sentFrom, sentTo, 'age-raw (in flight) oldestQueuedAt')
    assert.equal((await call('/api/clients/age-5')).body.oldestQueuedAt, before.a5.oldestQueuedAt, '/api/clients/{id} of an offline session')
    raw.socket.destroy()
    await waitFor(async () => (await session('age-raw')).disconnectedAt !== null, 5000, 'age-raw offline')
    const rawBefore = await session('age-raw')
    assert.equal(rawBefore.oldestQueuedAt, live.oldestQueuedAt)

    if (restart) {
      await broker.stop()
      broker = await startBroker({ ...opts, dataDir: broker.dataDir, args: ARGS })
      call = apiOf(broker.httpUrl, 'adm')
      for (const [id, was] of [['age-5', before.a5], ['age-3', before.a3], ['age-raw', rawBefore]] as const) {
        const now = await session(id)
        assert.equal(now.disconnectedAt, was.disconnectedAt, `${id}: the same time after a restart`)
        assert.equal(now.oldestQueuedAt, was.oldestQueuedAt, `${id}: the same queue time after a restart`)
      }
    }

    // Back: the markers go (the session shows no offline time while connected), its queue is
    // delivered and acknowledged, and the next disconnect stores a new time.
    const back = await connect5Collecting(broker.mqttUrl, { clientId: 'age-5', clean: false, properties: { sessionExpiryInterval: 3600 } })
    await waitFor(() => back.got.length === 1, 5000, 'the queued message')
    const connected = await session('age-5')
    assert.equal(connected.connected, true)
    assert.equal(connected.disconnectedAt, null)
    await waitFor(async () => (await call('/api/clients/age-5')).body.oldestQueuedAt === null, 5000, 'an empty queue has no oldest message')
    const againFrom = Date.now()
    back.client.end()
    await waitFor(async () => (await session('age-5')).disconnectedAt !== null, 5000, 'offline again')
    const again = await session('age-5')
    between(again.disconnectedAt, againFrom, Date.now(), 'the new disconnectedAt')
    assert.equal(again.queued, 0)
    assert.equal(again.oldestQueuedAt, null)
  } finally {
    await broker.stop()
  }
}

test('embedded storage: offline and queue ages, kept across a restart', async () => {
  await scenario({ storage: 'embedded', dataDir: tempDir().path }, true)
})

test('memory storage: offline and queue ages', async () => {
  await scenario({ storage: 'memory' }, false)
})

test('redis storage: offline and queue ages, kept across a broker restart', { skip: needRedis() }, async () => {
  const redis = await startRedis()
  try {
    await scenario({ storage: 'redis', redisUrl: redis.url }, true)
  } finally {
    await redis.stop()
  }
})
