// Unfinished packets (issue #20: 300 sockets each holding a ~1 MB unfinished PUBLISH took
// RSS from 80 to 376 MB and were never closed): all clients together may hold
// --max-buffered-bytes of them (the client crossing it is disconnected), one packet may stay
// unfinished --partial-packet-timeout, both counted; other clients are unaffected.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as tcpConnect, type Socket } from 'node:net'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { startBroker } from '../helpers/broker.js'
import { connect, connectCollecting } from '../helpers/mqtt.js'
import { connectPacket } from '../helpers/raw.js'
import { waitFor } from '../helpers/system.js'

const BODY = 400 * 1024

/** A 3.1.1 client (keep alive 0) that sends the first BODY bytes of a PUBLISH announcing 2 x BODY. */
async function partialPublisher (port: number, id: string): Promise<{ socket: Socket, closed: () => boolean, closedAt: () => number }> {
  const socket = tcpConnect(port, '127.0.0.1')
  let closedAt = 0
  socket.on('error', () => {})
  socket.on('close', () => { closedAt = Date.now() })
  await new Promise(resolve => socket.once('connect', resolve))
  socket.write(connectPacket(id))
  await new Promise(resolve => socket.once('data', resolve)) // CONNACK
  const length = 2 * BODY
  // Fixed header: PUBLISH QoS 0, Remaining Length in 3 bytes; then topic "p" and the body.
  socket.write(Buffer.concat([Buffer.from([0x30, (length & 0x7f) | 0x80, ((length >> 7) & 0x7f) | 0x80, length >> 14, 0, 1, 0x70]), Buffer.alloc(BODY)]))
  return { socket, closed: () => closedAt > 0, closedAt: () => closedAt }
}

test('--max-buffered-bytes closes the client whose unfinished packet crosses it; --partial-packet-timeout closes the others; a canary and a large message pass', async () => {
  const broker = await startBroker({ storage: 'memory', args: ['--max-buffered-bytes', '1MiB', '--partial-packet-timeout', '2s', '--max-packet-size', '2MiB'] })
  try {
    const started = Date.now()
    const first = await partialPublisher(broker.mqttPort, 'slow-1')
    const second = await partialPublisher(broker.mqttPort, 'slow-2')
    const third = await partialPublisher(broker.mqttPort, 'slow-3')
    await waitFor(() => third.closed(), 5000, 'the client crossing the limit to be closed')
    assert.ok(!first.closed() && !second.closed(), 'the clients within the limit stay')

    const { client: watcher, got } = await connectCollecting(broker.mqttUrl)
    await watcher.subscribeAsync('canary/#', { qos: 1 })
    const canary = await connect(broker.mqttUrl)
    await canary.publishAsync('canary/x', 'still here', { qos: 1 })
    await waitFor(() => got.length === 1, 5000, 'the canary message')

    await waitFor(() => first.closed() && second.closed(), 10_000, 'the unfinished packets to time out')
    assert.ok(first.closedAt() - started >= 1500, `closed after ${first.closedAt() - started} ms`)
    // Nothing is held any more: a message larger than the limit's remainder arrives whole.
    await canary.publishAsync('canary/big', Buffer.alloc(900 * 1024, 'b'), { qos: 1 })
    await waitFor(() => got.length === 2, 5000, 'the large message')
    assert.equal(got[1].payload.length, 900 * 1024)

    const metrics = await (await fetch(`${broker.httpUrl}/metrics`)).text()
    assert.match(metrics, /swallow_connection_errors_total\{reason="buffered_bytes_limit"\} 1/)
    assert.match(metrics, /swallow_connection_errors_total\{reason="partial_packet_timeout"\} 2/)
    await Promise.all([watcher.endAsync(), canary.endAsync()])
  } finally {
    await broker.stop()
  }
})

test('MQTT 5: the client whose unfinished packet crosses --max-buffered-bytes gets DISCONNECT 0x97 (Quota exceeded) before the close', async () => {
  const broker = await startBroker({ storage: 'memory', args: ['--max-buffered-bytes', '512KiB', '--max-packet-size', '2MiB'] })
  try {
    const socket = tcpConnect(broker.mqttPort, '127.0.0.1')
    socket.on('error', () => {})
    const parser = mqttPacket.parser({ protocolVersion: 5 })
    const packets: Packet[] = []
    parser.on('packet', p => packets.push(p))
    socket.on('data', d => parser.parse(d))
    const closed = new Promise(resolve => socket.once('close', resolve))
    await new Promise(resolve => socket.once('connect', resolve))
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'partial-v5' }))
    await waitFor(() => packets.some(p => p.cmd === 'connack'), 5000, 'CONNACK')
    const body = 600 * 1024
    const length = 2 * body
    // PUBLISH QoS 0, Remaining Length in 3 bytes, topic "p", properties length 0, then part of the payload.
    socket.write(Buffer.concat([Buffer.from([0x30, (length & 0x7f) | 0x80, ((length >> 7) & 0x7f) | 0x80, length >> 14, 0, 1, 0x70, 0]), Buffer.alloc(body)]))
    await closed
    const disconnect = packets.find(p => p.cmd === 'disconnect') as { reasonCode?: number } | undefined
    assert.equal(disconnect?.reasonCode, 0x97)
  } finally {
    await broker.stop()
  }
})
