// How retained messages reach a new subscriber: at most the granted QoS, and no more work
// (or log lines) for a subscriber that left in the middle of a large stream.
import { test } from 'node:test'
import net from 'node:net'
import mqttPacket from 'mqtt-packet'
import assert from 'node:assert/strict'
import { startBroker } from '../../helpers/broker.js'
import { collect, connect } from '../../helpers/mqtt.js'
import { waitFor } from '../../helpers/system.js'

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

test('a retained message is sent at most at the QoS granted to the wildcard subscription', async () => {
  const broker = await startBroker({ args: ['--sys-interval', 'off'] })
  try {
    const pub = await connect(broker.mqttUrl)
    await pub.publishAsync('q/one', '1', { qos: 1, retain: true })
    await pub.publishAsync('q/two', '2', { qos: 2, retain: true })
    await pub.publishAsync('q/zero', '0', { qos: 0, retain: true })
    await pub.endAsync()
    const qosOf = async (filters: Record<string, { qos: 0 | 1 | 2 }>): Promise<Record<string, number>> => {
      const sub = await connect(broker.mqttUrl)
      const got = collect(sub)
      await sub.subscribeAsync(filters)
      await waitFor(() => got.length === 3, 3000, 'three retained messages')
      await sleep(100)
      await sub.endAsync()
      return Object.fromEntries(got.map(m => [m.topic, m.qos]))
    }
    assert.deepEqual(await qosOf({ '#': { qos: 0 } }), { 'q/one': 0, 'q/two': 0, 'q/zero': 0 })
    assert.deepEqual(await qosOf({ 'q/+': { qos: 1 } }), { 'q/one': 1, 'q/two': 1, 'q/zero': 0 })
    assert.deepEqual(await qosOf({ 'q/#': { qos: 2 } }), { 'q/one': 1, 'q/two': 2, 'q/zero': 0 })
    // Overlapping filters: the highest granted QoS among the matching ones.
    assert.deepEqual(await qosOf({ 'q/+': { qos: 0 }, 'q/two': { qos: 2 } }), { 'q/one': 0, 'q/two': 2, 'q/zero': 0 })
  } finally {
    await broker.stop()
  }
})

test('a subscriber that disconnects in the middle of a large retained stream ends it (no write, no log line per remaining message)', async () => {
  // What the core already queued for the client (in flight + queued) is its business: keep that small.
  // Messages already written to the socket fail with a log line each when it closes (core):
  // keep that small (in flight, queued, unsent bytes) to see what the stream itself does.
  const broker = await startBroker({ args: ['--sys-interval', 'off', '--max-inflight', '10', '--max-queued', '10', '--max-queued-bytes', '32KiB'] })
  try {
    const pub = await connect(broker.mqttUrl)
    const payload = 'x'.repeat(200)
    for (let i = 0; i < 20_000; i += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, j) => pub.publishAsync(`big/${i + j}`, payload, { qos: i % 1000 === 0 ? 1 : 0, retain: true })))
    }
    await pub.publishAsync('big/last', payload, { qos: 1, retain: true }) // stored after all the others
    await pub.endAsync()
    const sub = await connect(broker.mqttUrl)
    let received = 0
    sub.on('message', () => { received++ })
    await sub.subscribeAsync('big/#', { qos: 1 })
    await waitFor(() => received > 200, 5000, 'the stream to start')
    sub.end(true)
    await sleep(1500)
    const closedErrors = broker.logs.filter(l => String(l.msg).includes('connection closed on error'))
    assert.ok(closedErrors.length < 100, `${closedErrors.length} log lines after the subscriber left (of ~19,800 messages not sent)`)
    // The broker is still fine and still has every message.
    const again = await connect(broker.mqttUrl)
    const got = collect(again)
    await again.subscribeAsync('big/last', { qos: 1 })
    await waitFor(() => got.length === 1, 3000, 'big/last')
    await again.endAsync()
  } finally {
    await broker.stop()
  }
})

test('QoS 0 retained messages to a subscriber that reads slowly wait for its socket instead of being dropped', async () => {
  const broker = await startBroker({ args: ['--sys-interval', 'off', '--max-queued-bytes', '256KiB'] })
  const N = 5000
  try {
    const pub = await connect(broker.mqttUrl)
    const payload = 'z'.repeat(1000)
    for (let i = 0; i < N; i += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, j) => pub.publishAsync(`slow/${i + j}`, payload, { qos: 0, retain: true })))
    }
    await pub.publishAsync('sync', 'x', { qos: 1 })
    await pub.endAsync()
    // A raw client that stops reading its socket for a while after subscribing.
    const sock = net.connect(broker.mqttPort, '127.0.0.1')
    sock.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'slow-reader', keepalive: 60 }))
    sock.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'slow/#', qos: 0 }] }))
    sock.pause()
    await sleep(1500)
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    let received = 0
    parser.on('packet', packet => { if (packet.cmd === 'publish') received++ })
    sock.on('data', data => parser.parse(data))
    sock.resume()
    await waitFor(() => received === N, 10_000, `${N} retained messages`)
    sock.destroy()
    const metrics = await (await fetch(`${broker.httpUrl}/metrics`)).text()
    assert.doesNotMatch(metrics, /swallow_dropped_messages_total\{reason="qos0_queue_full"\} [1-9]/)
  } finally {
    await broker.stop()
  }
})

test('a retained message published while a SUBSCRIBE is handled reaches the new subscriber once, not live and again as retained', async () => {
  const broker = await startBroker()
  const pub = await connect(broker.mqttUrl)
  try {
    let publishing = true
    let n = 0
    const stream = (async () => {
      while (publishing) await pub.publishAsync('race/t', `r${n++}`, { qos: 1, retain: true })
    })()
    const twice: string[] = []
    for (let i = 0; i < 30; i++) {
      const sub = await connect(broker.mqttUrl)
      const got = collect(sub)
      await sub.subscribeAsync('race/t', { qos: 0 })
      const last = `r${n}` // published after the SUBSCRIBE: it arrives live, and ends the check
      await waitFor(() => got.some(m => m.payload === last || Number(m.payload.slice(1)) > n), 5000, 'a message after the SUBSCRIBE')
      const payloads = got.map(m => m.payload)
      twice.push(...payloads.filter((p, j) => payloads.indexOf(p) !== j))
      await sub.endAsync()
    }
    publishing = false
    await stream
    assert.deepEqual(twice, [], 'no message twice')
  } finally {
    await pub.endAsync()
    await broker.stop()
  }
})
