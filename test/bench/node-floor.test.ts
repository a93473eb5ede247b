// bench/node-floor.ts is a harness target: in the latency scenarios it must deliver what it
// PUBACKs, or its column would compare Swallow with a floor that drops messages.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { connect } from '../helpers/mqtt.js'
import { freePort, waitFor } from '../helpers/system.js'

const NODE_FLOOR = fileURLToPath(new URL('../../bench/node-floor.js', import.meta.url))

test('the node floor forwards QoS 1 messages to exact-topic subscribers only, acknowledged and in order', async () => {
  const port = await freePort()
  const floor = spawn(process.execPath, [NODE_FLOOR, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    await new Promise<void>(resolve => floor.stdout.once('data', () => resolve()))
    const url = `mqtt://127.0.0.1:${port}`
    const sub = await connect(url)
    const granted = await sub.subscribeAsync('bench/lat', { qos: 1 })
    assert.equal(granted[0]?.qos, 1)
    const got: Array<{ payload: string, qos: number }> = []
    sub.on('message', (_topic, payload, packet) => got.push({ payload: payload.toString(), qos: packet.qos }))
    const pub = await connect(url)
    for (let i = 0; i < 20; i++) await pub.publishAsync('bench/lat', String(i), { qos: 1 }) // resolves on PUBACK
    await pub.publishAsync('bench/other', 'nobody subscribed', { qos: 1 })
    // A last message on the subscribed topic: once it is in, anything sent before it is too.
    await pub.publishAsync('bench/lat', 'end', { qos: 1 })
    await waitFor(() => got.some(m => m.payload === 'end'), 5000, 'the last delivery')
    assert.deepEqual(got.map(m => m.payload), [...Array.from({ length: 20 }, (_, i) => String(i)), 'end'])
    assert.ok(got.every(m => m.qos === 1))
    await Promise.all([pub.endAsync(), sub.endAsync()])
  } finally {
    floor.kill('SIGTERM')
  }
})
