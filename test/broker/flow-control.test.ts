// Per-client flow control: the in-flight window, the queue behind it, --queue-full-policy
// wait (blocking instead of dropping QoS 1/2), the slow-client timeout, and counted QoS 0
// drops. The default policy, isolate, is tested in frozen-subscriber.test.ts.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as tcpConnect, type Socket } from 'node:net'
import mqttPacket from 'mqtt-packet'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { connect } from '../helpers/mqtt.js'
import { sleep, waitFor } from '../helpers/system.js'

let broker: BrokerProcess
before(async () => {
  broker = await startBroker({ storage: 'memory', args: ['--max-inflight', '5', '--max-queued', '10', '--queue-full-policy', 'wait', '--slow-client-timeout', '1s', '--max-queued-bytes', '256KiB'] })
})
after(async () => { await broker.stop() })

/** A subscriber on a raw socket that never acknowledges: it counts the PUBLISHes it gets. */
async function silentSubscriber (clientId: string, filter: string): Promise<{ socket: Socket, received: () => number, closed: Promise<void> }> {
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = tcpConnect(broker.mqttPort, '127.0.0.1', () => resolve(s))
    s.once('error', reject)
  })
  const parser = mqttPacket.parser()
  let publishes = 0
  let subacked: () => void = () => {}
  const ready = new Promise<void>(resolve => { subacked = resolve })
  parser.on('packet', p => {
    if (p.cmd === 'publish') publishes++
    if (p.cmd === 'suback') subacked()
  })
  socket.on('data', d => parser.parse(d))
  const closed = new Promise<void>(resolve => socket.once('close', () => resolve()))
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId }))
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] }))
  await ready
  return { socket, received: () => publishes, closed }
}

async function metric (name: string): Promise<number> {
  const text = await (await fetch(`${broker.httpUrl}/metrics`)).text()
  const line = text.split('\n').find(l => l.startsWith(name + ' ') || l.startsWith(name + '{'))
  return line ? Number(line.split(' ').pop()) : 0
}

test('--queue-full-policy wait: a client that does not acknowledge gets at most --max-inflight messages; publishers wait, then it is disconnected', async () => {
  const slow = await silentSubscriber('slow-1', 'flow/slow')
  const pub = await connect(broker.mqttUrl)
  try {
    // 5 in flight + 10 queued are accepted at once; the next ones wait for room.
    const acks = Array.from({ length: 20 }, (_, i) => pub.publishAsync('flow/slow', `m${i}`, { qos: 1 }).then(() => i))
    const settled: number[] = []
    for (const a of acks) void a.then(i => settled.push(i))
    await waitFor(() => slow.received() === 5, 3000, '5 in-flight messages')
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.equal(slow.received(), 5, 'no more than --max-inflight unacknowledged')
    assert.ok(settled.length < 20, `publishers wait while the queue is full (${settled.length} of 20 acknowledged)`)
    assert.ok(await metric('swallow_queue_full_total') > 0, 'counted')
    // --slow-client-timeout 1s: the stuck client is disconnected and the publishers go on.
    await slow.closed
    await Promise.all(acks)
    assert.equal(await metric('swallow_disconnects_total{reason="slow_client"}'), 1)
  } finally {
    slow.socket.destroy()
    await pub.endAsync()
  }
})

test('a client that acknowledges gets everything, in order, through a small window', async () => {
  const sub = await connect(broker.mqttUrl)
  const pub = await connect(broker.mqttUrl)
  try {
    const got: string[] = []
    sub.on('message', (_t, payload) => got.push(payload.toString()))
    await sub.subscribeAsync('flow/ok', { qos: 1 })
    await Promise.all(Array.from({ length: 500 }, (_, i) => pub.publishAsync('flow/ok', `m${i}`, { qos: 1 })))
    await waitFor(() => got.length === 500, 10_000, '500 messages')
    assert.deepEqual(got, Array.from({ length: 500 }, (_, i) => `m${i}`))
  } finally {
    await Promise.all([sub.endAsync(), pub.endAsync()])
  }
})

test('QoS 0 messages to a client that does not read are dropped beyond --max-queued-bytes, and counted', async () => {
  const stuck = await silentSubscriber('stuck-qos0', 'flow/qos0')
  stuck.socket.pause() // stop reading: the broker's socket buffer fills up
  const pub = await connect(broker.mqttUrl)
  const healthy = await connect(broker.mqttUrl)
  try {
    let healthyGot = 0
    healthy.on('message', () => { healthyGot++ })
    await healthy.subscribeAsync('flow/qos0', { qos: 0 })
    const payload = Buffer.alloc(16 * 1024)
    // About 10 MB/s: far more than the stuck client's socket buffers hold, well within
    // what the healthy subscriber reads (QoS 0 to a client that lags is dropped too).
    for (let i = 0; i < 1000; i++) {
      await pub.publishAsync('flow/qos0', payload, { qos: 0 })
      if (i % 10 === 9) await sleep(15)
    }
    await waitFor(async () => await metric('swallow_dropped_messages_total{reason="qos0_queue_full"}') > 0, 20_000, 'counted drops')
    await waitFor(() => healthyGot === 1000, 30_000, 'the healthy subscriber gets all 1000')
  } finally {
    stuck.socket.destroy()
    await Promise.all([pub.endAsync(), healthy.endAsync()])
  }
})
