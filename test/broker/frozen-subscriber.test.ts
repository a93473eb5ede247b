// --queue-full-policy isolate (the default): a subscriber that stops acknowledging does not
// hold up the publishers or the other subscribers on its topics. A persistent session's
// further messages stay in its stored queue and reach it, in order and once, when it
// acknowledges again; a clean session's are dropped and counted.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as tcpConnect, type Socket } from 'node:net'
import mqttPacket, { type IPublishPacket } from 'mqtt-packet'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { collect, connect } from '../helpers/mqtt.js'
import { needRedis, startRedis, type RedisProcess } from '../helpers/redis.js'
import { waitFor } from '../helpers/system.js'

// A slow-client timeout far beyond the test: publishers held by the frozen subscriber would time the test out.
const ARGS = ['--max-inflight', '5', '--max-queued', '10', '--slow-client-timeout', '10m']
let embedded: BrokerProcess
let redis: RedisProcess | null = null
let onRedis: BrokerProcess | null = null
before(async () => {
  embedded = await startBroker({ args: ARGS })
  if (needRedis() !== false) return
  redis = await startRedis()
  onRedis = await startBroker({ storage: 'redis', redisUrl: redis.url, args: ARGS })
})
after(async () => {
  await embedded.stop()
  await onRedis?.stop()
  await redis?.stop()
})

/** A raw-socket subscriber that acknowledges nothing until thaw(); then it acknowledges everything. */
async function frozenSubscriber (broker: BrokerProcess, clientId: string, filter: string, clean: boolean): Promise<{ socket: Socket, payloads: string[], thaw: () => void }> {
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = tcpConnect(broker.mqttPort, '127.0.0.1', () => resolve(s))
    s.once('error', reject)
  })
  const parser = mqttPacket.parser()
  const payloads: string[] = []
  const unacknowledged: number[] = []
  let thawed = false
  let subacked: () => void = () => {}
  const ready = new Promise<void>(resolve => { subacked = resolve })
  const ack = (messageId: number): void => { socket.write(mqttPacket.generate({ cmd: 'puback', messageId })) }
  parser.on('packet', p => {
    if (p.cmd === 'suback') subacked()
    if (p.cmd !== 'publish') return
    const publish = p as IPublishPacket
    payloads.push(publish.payload.toString())
    if (thawed) ack(publish.messageId as number)
    else unacknowledged.push(publish.messageId as number)
  })
  socket.on('data', d => parser.parse(d))
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean, keepalive: 0, clientId }))
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] }))
  await ready
  return {
    socket,
    payloads,
    thaw: () => {
      thawed = true
      for (const id of unacknowledged.splice(0)) ack(id)
    }
  }
}

async function metric (broker: BrokerProcess, name: string): Promise<number> {
  const text = await (await fetch(`${broker.httpUrl}/metrics`)).text()
  const line = text.split('\n').find(l => l.startsWith(name + ' ') || l.startsWith(name + '{'))
  return line ? Number(line.split(' ').pop()) : 0
}

const sent = (n: number): string[] => Array.from({ length: n }, (_, i) => `m${i}`)

for (const storage of ['embedded', 'redis'] as const) {
test(`${storage}: a frozen persistent subscriber: publishers and a healthy subscriber go on; its messages wait in its stored queue and arrive in order, once, when it acknowledges`, { skip: storage === 'redis' ? needRedis() : false }, async () => {
  const broker = storage === 'embedded' ? embedded : onRedis as BrokerProcess
  const frozen = await frozenSubscriber(broker, 'frozen-persistent', 'frozen/p', false)
  const healthy = await connect(broker.mqttUrl)
  const got = collect(healthy)
  await healthy.subscribeAsync('frozen/p', { qos: 1 })
  const pub = await connect(broker.mqttUrl)
  try {
    // 300 > 5 in flight + 10 queued: with the publishers held (--queue-full-policy wait) this
    // would wait for the 10 min timeout. One at a time, so that the healthy subscriber's own
    // queue (10) never fills.
    for (const m of sent(300).slice(0, 200)) await pub.publishAsync('frozen/p', m, { qos: 1 })
    await waitFor(() => got.length === 200, 10_000, 'the healthy subscriber gets the first 200')
    assert.equal(frozen.payloads.length, 5, 'the frozen one holds its window (5 in flight)')
    assert.ok(await metric(broker, 'swallow_queue_spilled_total') > 0, 'spilled messages are counted')
    // It thaws while the rest is published: live messages meet the ones read back from storage.
    frozen.thaw()
    for (const m of sent(300).slice(200)) await pub.publishAsync('frozen/p', m, { qos: 1 })
    await waitFor(() => got.length === 300, 10_000, 'the healthy subscriber gets all 300')
    assert.deepEqual(got.map(m => m.payload), sent(300))
    await waitFor(() => frozen.payloads.length >= 300, 10_000, 'the thawed subscriber gets all 300')
    assert.deepEqual(frozen.payloads, sent(300), 'in order, none twice')
  } finally {
    frozen.socket.destroy()
    await Promise.all([healthy.endAsync(), pub.endAsync()])
  }
})

test(`${storage}: spilled messages survive the frozen persistent subscriber reconnecting: each arrives once`, { skip: storage === 'redis' ? needRedis() : false }, async () => {
  const broker = storage === 'embedded' ? embedded : onRedis as BrokerProcess
  const frozen = await frozenSubscriber(broker, 'frozen-reconnect', 'frozen/r', false)
  const pub = await connect(broker.mqttUrl)
  await Promise.all(sent(100).map(m => pub.publishAsync('frozen/r', m, { qos: 1 })))
  frozen.socket.destroy()
  await waitFor(async () => (await (await fetch(`${broker.httpUrl}/healthz`)).json() as { clients: number }).clients === 1, 5000, 'the frozen one gone')
  const back = await frozenSubscriber(broker, 'frozen-reconnect', 'frozen/r', false)
  back.thaw()
  await pub.publishAsync('frozen/r', 'last', { qos: 1 })
  await waitFor(() => back.payloads.includes('last'), 10_000, 'the sentinel after the queue')
  // The 5 it held unacknowledged come again first (MQTT-4.4.0-1), then the rest, once each.
  assert.deepEqual([...new Set(back.payloads)], [...sent(100), 'last'])
  assert.equal(back.payloads.length, 101, 'none twice')
  back.socket.destroy()
  await pub.endAsync()
})
}

test('a frozen clean subscriber: after a second without an acknowledgement its further QoS 1 messages are dropped and counted; a healthy clean subscriber whose queue overflows under the same burst loses nothing', async () => {
  const broker = embedded
  const frozen = await frozenSubscriber(broker, 'frozen-clean', 'frozen/c', true)
  const healthy = await connect(broker.mqttUrl)
  const got = collect(healthy)
  await healthy.subscribeAsync('frozen/c', { qos: 1 })
  const pub = await connect(broker.mqttUrl)
  try {
    const dropped = await metric(broker, 'swallow_dropped_messages_total{reason="queue_full"}')
    // 300 at once: the healthy subscriber's queue (10) overflows too, but it acknowledges, so
    // the publisher waits for it instead of anything being dropped.
    await Promise.all(sent(300).map(m => pub.publishAsync('frozen/c', m, { qos: 1 })))
    await waitFor(() => got.length === 300, 10_000, 'the healthy subscriber gets all 300')
    assert.deepEqual(got.map(m => m.payload), sent(300))
    assert.equal(await metric(broker, 'swallow_dropped_messages_total{reason="queue_full"}') - dropped, 285, '300 - 5 in flight - 10 queued, all to the frozen one')
    frozen.thaw()
    await pub.publishAsync('frozen/c', 'last', { qos: 1 })
    await waitFor(() => frozen.payloads.includes('last'), 10_000, 'the thawed one gets the next message')
    assert.deepEqual(frozen.payloads, [...sent(15), 'last'], 'what fitted, then what came after it caught up')
  } finally {
    frozen.socket.destroy()
    await Promise.all([healthy.endAsync(), pub.endAsync()])
  }
})
