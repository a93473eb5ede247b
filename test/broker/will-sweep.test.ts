// Wills stored in embedded storage outlive the process: after a kill -9 (and after a
// graceful stop, which closes connections without publishing wills) the restarted
// broker's will sweep publishes them. --heartbeat-interval 300ms: a sweep every 1.2 s.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker } from '../helpers/broker.js'
import { connect, connectCollecting } from '../helpers/mqtt.js'
import { tempDir, waitFor } from '../helpers/system.js'

const ARGS = ['--heartbeat-interval', '300ms', '--sys-interval', 'off']

/**
 * Resolves after `n` of the broker's own heartbeats ($SYS/<id>/heartbeat, every 300 ms here):
 * the will sweep runs every 4 of them, so this counts sweeps on the broker's clock, which a
 * loaded machine slows down together with the sweep, rather than in wall time.
 */
async function heartbeats (url: string, n: number): Promise<void> {
  const { client, got } = await connectCollecting(url)
  await client.subscribeAsync('$SYS/+/heartbeat')
  await waitFor(() => got.length >= n, 20_000, `${n} heartbeats`)
  await client.endAsync()
}

for (const how of ['kill -9', 'graceful stop'] as const) {
  test(`after a ${how}, the restarted broker publishes the wills of clients that were connected`, async () => {
    const dir = tempDir()
    let broker = await startBroker({ dataDir: dir.path, args: ARGS })
    try {
      const device = await connect(broker.mqttUrl, { clientId: `valve-${how.length}`, reconnectPeriod: 0, will: { topic: 'plant/valve/status', payload: Buffer.from('offline'), qos: 1, retain: false } })
      device.on('error', () => {})
      const calm = await connect(broker.mqttUrl, { clientId: 'calm', reconnectPeriod: 0 })
      await calm.endAsync() // a clean DISCONNECT: no will stored, none published
      if (how === 'kill -9') await broker.crash()
      else await broker.stop()
      device.end(true)
      broker = await startBroker({ dataDir: dir.path, args: ARGS })
      const { client: watcher, got } = await connectCollecting(broker.mqttUrl)
      await watcher.subscribeAsync('plant/#', { qos: 1 })
      await waitFor(() => got.length >= 1, 8000, 'the stored will')
      await heartbeats(broker.mqttUrl, 5) // another sweep: published once
      assert.deepEqual(got.map(m => `${m.topic} ${m.payload}`), ['plant/valve/status offline'])
      await watcher.endAsync()
    } finally {
      await broker.stop()
      dir.remove()
    }
  })
}

test('a device that connects again after the restart replaces its stored will: nothing is published', async () => {
  const dir = tempDir()
  let broker = await startBroker({ dataDir: dir.path, args: ARGS })
  const will = { topic: 'plant/pump/status', payload: Buffer.from('offline'), qos: 1 as const, retain: false }
  try {
    const device = await connect(broker.mqttUrl, { clientId: 'pump-1', reconnectPeriod: 0, will })
    device.on('error', () => {})
    await broker.crash()
    device.end(true)
    broker = await startBroker({ dataDir: dir.path, args: ARGS })
    const back = await connect(broker.mqttUrl, { clientId: 'pump-1', reconnectPeriod: 0, will })
    const { client: watcher, got } = await connectCollecting(broker.mqttUrl)
    await watcher.subscribeAsync('plant/#', { qos: 1 })
    await heartbeats(broker.mqttUrl, 9) // two sweeps
    assert.deepEqual(got, [])
    await back.endAsync()
    await watcher.endAsync()
  } finally {
    await broker.stop()
    dir.remove()
  }
})
