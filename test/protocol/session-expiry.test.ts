// Session Expiry Interval (MQTT-3.1.2-23): a stored session is deleted when its interval has
// passed since its connection closed: by the node it ended on (a timer), and, because its
// deadline is stored with it, by any node that sees the next CONNECT (after kill -9, or on
// another cluster node). --max-session-expiry caps MQTT 5 intervals (CONNACK says so) and
// ends MQTT 3.1.1 persistent sessions too.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { connect } from '../helpers/mqtt.js'
import { needRedis, startRedis } from '../helpers/redis.js'
import { waitFor } from '../helpers/system.js'

interface Session { client: MqttClient, connack: IConnackPacket, got: string[] }

async function open (url: string, clientId: string, opts: IClientOptions = {}): Promise<Session> {
  const client = mqtt.connect(url, { clientId, reconnectPeriod: 0, connectTimeout: 5000, ...opts })
  const got: string[] = []
  client.on('message', (_t, payload) => got.push(payload.toString()))
  const connack = await new Promise<IConnackPacket>((resolve, reject) => { client.once('connect', resolve); client.once('error', reject) })
  return { client, connack, got }
}

const v5 = (sessionExpiryInterval: number): IClientOptions => ({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval } })

async function metric (broker: BrokerProcess, name: string): Promise<number> {
  const text = await (await fetch(`${broker.httpUrl}/metrics`)).text()
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
}

/** A persistent session that subscribed to `topic`, then left with a message queued for it; resolves the deadline. */
async function leaveWithQueuedMessage (broker: BrokerProcess, clientId: string, topic: string, opts: IClientOptions): Promise<number> {
  const s = await open(broker.mqttUrl, clientId, opts)
  await s.client.subscribeAsync(topic, { qos: 1 })
  await s.client.endAsync()
  const left = Date.now()
  const pub = await connect(broker.mqttUrl)
  await pub.publishAsync(topic, 'queued', { qos: 1 })
  await pub.endAsync()
  return left
}

/** Reconnects and proves that nothing queued arrives: a sentinel on another topic comes first and alone. */
async function assertNothingQueued (broker: BrokerProcess, s: Session): Promise<void> {
  await s.client.subscribeAsync('sentinel/' + s.client.options.clientId, { qos: 1 })
  const pub = await connect(broker.mqttUrl)
  await pub.publishAsync('sentinel/' + s.client.options.clientId, 'sentinel', { qos: 1 })
  await pub.endAsync()
  await waitFor(() => s.got.includes('sentinel'), 5000, 'the sentinel')
  assert.deepEqual(s.got, ['sentinel'])
}

test('the node a session ended on deletes it when its interval passes; a reconnect within the interval still resumes it', async () => {
  const broker = await startBroker()
  try {
    await leaveWithQueuedMessage(broker, 'expiring', 'se/a', v5(1))
    await waitFor(async () => await metric(broker, 'swallow_sessions_expired_total') === 1, 10_000, 'the session deleted')
    const back = await open(broker.mqttUrl, 'expiring', v5(60))
    assert.equal(back.connack.sessionPresent, false)
    await assertNothingQueued(broker, back)
    await back.client.endAsync()

    await leaveWithQueuedMessage(broker, 'resumed', 'se/b', v5(60))
    const resumed = await open(broker.mqttUrl, 'resumed', v5(60))
    assert.equal(resumed.connack.sessionPresent, true)
    await waitFor(() => resumed.got.includes('queued'), 5000, 'the queued message')
    await resumed.client.endAsync()
  } finally {
    await broker.stop()
  }
})

test('kill -9 loses the timer, not the deadline: the restarted broker finds the session and deletes it on time, with no CONNECT', async () => {
  let broker = await startBroker()
  const dataDir = broker.dataDir
  try {
    await leaveWithQueuedMessage(broker, 'crashed', 'se/c', v5(2))
    await broker.crash()
    broker = await startBroker({ dataDir })
    await waitFor(async () => await metric(broker, 'swallow_sessions_expired_total') === 1, 10_000, 'the restarted broker to delete the session')
    const back = await open(broker.mqttUrl, 'crashed', v5(60))
    assert.equal(back.connack.sessionPresent, false)
    await assertNothingQueued(broker, back)
    assert.equal(await metric(broker, 'swallow_sessions_expired_total'), 1)
    await back.client.endAsync()
  } finally {
    await broker.stop()
  }
})

test('two Redis nodes: a session that ended on node A, which then died, is deleted by node B\'s sweep (--session-sweep-interval) and is gone when the client comes back on B', { skip: needRedis() }, async () => {
  const redis = await startRedis()
  const a = await startBroker({ storage: 'redis', redisUrl: redis.url })
  const b = await startBroker({ storage: 'redis', redisUrl: redis.url, args: ['--session-sweep-interval', '1s'] })
  try {
    await leaveWithQueuedMessage(a, 'roamer', 'se/d', v5(1))
    await a.crash() // A's timer never fires
    await waitFor(async () => await metric(b, 'swallow_sessions_expired_total') === 1, 10_000, 'node B to delete the session')
    const back = await open(b.mqttUrl, 'roamer', v5(60))
    assert.equal(back.connack.sessionPresent, false)
    await assertNothingQueued(b, back)
    await back.client.endAsync()
  } finally {
    await b.stop()
    await redis.stop()
  }
})

test('--max-session-expiry caps an MQTT 5 interval (CONNACK says so) and ends an MQTT 3.1.1 persistent session', async () => {
  const broker = await startBroker({ args: ['--max-session-expiry', '1s'] })
  try {
    const capped = await open(broker.mqttUrl, 'capped', v5(3600))
    assert.equal(capped.connack.properties?.sessionExpiryInterval, 1)
    await capped.client.endAsync()
    const asked = await open(broker.mqttUrl, 'within', v5(1))
    assert.equal(asked.connack.properties?.sessionExpiryInterval, undefined, 'not sent when the asked interval is used')
    await asked.client.endAsync()

    await leaveWithQueuedMessage(broker, 'v3-persistent', 'se/e', { clean: false })
    await waitFor(async () => await metric(broker, 'swallow_sessions_expired_total') >= 3, 10_000, 'three sessions deleted')
    const back = await open(broker.mqttUrl, 'v3-persistent', { clean: false })
    assert.equal(back.connack.sessionPresent, false)
    await assertNothingQueued(broker, back)
    await back.client.endAsync()
  } finally {
    await broker.stop()
  }
})

test('a takeover does not end the session: the connection taken over leaves neither a deadline nor a deletion behind', async () => {
  const broker = await startBroker()
  try {
    const first = await open(broker.mqttUrl, 'taken', v5(60))
    await first.client.subscribeAsync('to/x', { qos: 1 })
    await first.client.endAsync()
    // Clean Start 0 with expiry 0: this connection uses the stored session and would end it...
    const a = await open(broker.mqttUrl, 'taken', { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 0 } })
    assert.equal(a.connack.sessionPresent, true)
    const aClosed = new Promise<void>(resolve => a.client.once('close', () => resolve()))
    // ...but another connection takes it over first.
    const b = await open(broker.mqttUrl, 'taken', v5(60))
    assert.equal(b.connack.sessionPresent, true)
    await aClosed
    await b.client.endAsync()
    const pub = await connect(broker.mqttUrl)
    await pub.publishAsync('to/x', 'after the takeover', { qos: 1 })
    await pub.endAsync()
    const c = await open(broker.mqttUrl, 'taken', v5(60))
    assert.equal(c.connack.sessionPresent, true)
    await waitFor(() => c.got.includes('after the takeover'), 5000, 'the message queued for the session')
    await c.client.endAsync()
  } finally {
    await broker.stop()
  }
})
