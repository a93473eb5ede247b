// Wills stored in embedded storage outlive the process: after a kill -9 (and after a
// graceful stop, which closes connections without publishing wills) the restarted
// broker's will sweep publishes them. --heartbeat-interval 300ms: a sweep every 1.2 s.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker } from '../helpers/broker.js'
import { connect, connectCollecting } from '../helpers/mqtt.js'
import { sleep, tempDir, waitFor } from '../helpers/system.js'

const ARGS = ['--heartbeat-interval', '300ms', '--sys-interval', 'off']

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
      await sleep(1500) // another sweep: published once
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
    await sleep(3000) // two sweeps
    assert.deepEqual(got, [])
    await back.endAsync()
    await watcher.endAsync()
  } finally {
    await broker.stop()
    dir.remove()
  }
})
