// The sessions store on a full disk (issue #20: /healthz said "ok" while writes failed):
// /healthz reports degraded and names the store until writes succeed again, nothing that
// was not stored is acknowledged, and every message acknowledged before, during and after
// the episode reaches the persistent session after a kill -9 and a restart (LevelDB alone
// loses the ones written after the failure: src/level-write-gate.ts).
// The data dir is a 16 MiB tmpfs (needs mount: root).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync, statfsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { smallDisk, publishUntilRefused } from '../helpers/full-disk.js'
import { connect, connectCollecting } from '../helpers/mqtt.js'
import { raw5, rawMqtt, reasonOf } from '../helpers/raw5.js'
import { waitFor } from '../helpers/system.js'

const disk = smallDisk('16m')
const mounted = disk.mounted
if (!mounted) process.stderr.write('\n*** SKIPPING sessions disk-full test: cannot mount a tmpfs (needs root) ***\n\n')

interface Health { status: number, body: { status: string, storage: { state: string, failingWrites: Array<{ store: string, error: string }> } } }

async function health (broker: BrokerProcess): Promise<Health> {
  const res = await fetch(`${broker.httpUrl}/healthz`)
  return { status: res.status, body: await res.json() as Health['body'] }
}

test('a full disk: /healthz degraded naming the sessions store, no PUBACK for what is not stored; ok again once writes succeed, and nothing acknowledged is lost across a kill -9', { skip: mounted ? false : 'cannot mount a tmpfs' }, async () => {
  let broker: BrokerProcess | null = null
  try {
    broker = await startBroker({ dataDir: disk.path, args: ['--sys-interval', 'off'] })
    const sub = await connect(broker.mqttUrl, { clientId: 'offline-sub', clean: false })
    await sub.subscribeAsync('q/#', { qos: 1 })
    await sub.endAsync()
    assert.equal((await health(broker)).status, 200)

    // Leave about 1 MiB: ten 100 KiB messages fit, then the sessions store's log cannot grow.
    const { bavail, bsize } = statfsSync(disk.path)
    writeFileSync(join(disk.path, 'filler'), Buffer.alloc(bavail * bsize - 1024 * 1024))
    let client = await connect(broker.mqttUrl, { clientId: 'dev' })
    client.on('error', () => {})
    const before = await publishUntilRefused(client, 0, 50)
    assert.ok(before.refused > 0, `refused at ${before.refused} after ${before.acked.length} acknowledged`)

    const b = broker
    const degraded = await waitFor(async () => { const h = await health(b); return h.status === 503 ? h : null }, 5000, '/healthz 503')
    assert.equal(degraded.body.status, 'degraded')
    assert.equal(degraded.body.storage.state, 'degraded')
    assert.deepEqual(degraded.body.storage.failingWrites.map(f => f.store), ['sessions store'])
    assert.match(degraded.body.storage.failingWrites[0].error, /No space left on device/)
    assert.match(await (await fetch(`${broker.httpUrl}/metrics`)).text(), /^swallow_storage_up 0$/m)
    // Still degraded a while later: nothing has been written since.
    client = await connect(broker.mqttUrl, { clientId: 'dev' })
    client.on('error', () => {})
    const during = await publishUntilRefused(client, before.refused, 1)
    assert.deepEqual(during.acked, [], 'no PUBACK while writes are refused')
    assert.equal((await health(broker)).status, 503)
    // A new persistent session cannot be stored: CONNACK server unavailable, in both protocols.
    const v5 = await raw5(broker.mqttPort, { clientId: 'new-persistent-5', properties: { sessionExpiryInterval: 60 } })
    assert.equal(reasonOf(v5.received[0]), 0x88)
    const v3 = await rawMqtt(broker.mqttPort, 4, { clientId: 'new-persistent-3', clean: false })
    assert.equal((v3.received[0] as { returnCode?: number }).returnCode, 3)

    rmSync(join(disk.path, 'filler'))
    await waitFor(async () => (await health(b)).status === 200, 10_000, '/healthz ok again once space is back')
    assert.match(await (await fetch(`${broker.httpUrl}/metrics`)).text(), /^swallow_storage_up 1$/m)
    assert.ok(broker.logs.some(l => String(l.msg).includes('sessions store: writes succeed again')))
    client = await connect(broker.mqttUrl, { clientId: 'dev' })
    const after = await publishUntilRefused(client, 1000, 20)
    assert.equal(after.refused, -1, 'every publish acknowledged once space is back')
    await client.endAsync()

    await broker.crash()
    broker = await startBroker({ dataDir: disk.path, args: ['--sys-interval', 'off'] })
    const acked = [...before.acked, ...after.acked]
    const { client: back, got } = await connectCollecting(broker.mqttUrl, { clientId: 'offline-sub', clean: false })
    await waitFor(() => got.length >= acked.length, 15_000, `${acked.length} acknowledged messages`)
    const received = new Set(got.map(m => Number(m.payload.split(';')[0])))
    assert.deepEqual(acked.filter(i => !received.has(i)), [], 'acknowledged and lost')
    process.stdout.write(`# disk full: ${before.acked.length} acknowledged before, refused from ${before.refused}, ${after.acked.length} after; ${got.length} delivered after kill -9\n`)
    await back.endAsync()
  } finally {
    await broker?.stop()
    disk.remove()
  }
})
