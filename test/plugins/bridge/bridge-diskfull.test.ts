// A durable rule on a full disk: the publish that cannot be stored gets no PUBACK (the
// connection closes), every PUBACKed message is in the log, and the device's retry lands
// once space is back; /healthz says degraded meanwhile. The stream directory lives on a 1 MiB
// tmpfs (needs mount: root).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openLog } from '../../../plugins/bridge/log/index.js'
import { startBroker } from '../../helpers/broker.js'
import { connect } from '../../helpers/mqtt.js'
import { tempDir, waitFor } from '../../helpers/system.js'

function mountTmpfs (dir: string): boolean {
  mkdirSync(dir, { recursive: true })
  return spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]).status === 0
}

const small = tempDir('swallow-full-')
const mounted = mountTmpfs(small.path)
if (!mounted) process.stderr.write('\n*** SKIPPING disk-full test: cannot mount a tmpfs (needs root) ***\n\n')

test('on a full disk a durable publish is not acknowledged; the retry lands when space is back', { skip: mounted ? false : 'cannot mount a tmpfs' }, async () => {
  const data = tempDir()
  mkdirSync(join(data.path, 'log'), { recursive: true })
  symlinkSync(small.path, join(data.path, 'log', 'telemetry'))
  writeFileSync(join(small.path, 'filler'), Buffer.alloc(600 * 1024))
  const broker = await startBroker({ dataDir: data.path, args: ['--bridge-rule', 'sensors/#=telemetry:durable', '--sys-interval', 'off'] })
  try {
    const payload = (i: number): Buffer => Buffer.alloc(100 * 1024, String(i))
    let client = await connect(broker.mqttUrl, { clientId: 'dev-full' })
    const acked: number[] = []
    let refused = -1
    for (let i = 0; i < 10 && refused === -1; i++) {
      const closed = new Promise<'closed'>(resolve => client.once('close', () => resolve('closed')))
      const result = await Promise.race([client.publishAsync('sensors/big', payload(i), { qos: 1 }).then(() => 'acked' as const), closed])
      if (result === 'acked') acked.push(i)
      else refused = i
    }
    assert.ok(acked.length >= 1 && refused > 0, `acked ${acked.length}, refused at ${refused}`)
    client.end(true)
    await waitFor(() => broker.logs.some(l => String(l.msg).includes('log write failed')), 5000, 'the failed write in the log')
    const degraded = await fetch(`${broker.httpUrl}/healthz`)
    assert.equal(degraded.status, 503, '/healthz degraded while the stream cannot be written')
    const body = await degraded.json() as { storage: { failingWrites: Array<{ store: string }> } }
    assert.deepEqual(body.storage.failingWrites.map(f => f.store), ['log bridge stream telemetry'])

    rmSync(join(small.path, 'filler'))
    client = await connect(broker.mqttUrl, { clientId: 'dev-full' })
    await client.publishAsync('sensors/big', payload(refused), { qos: 1 })
    await client.endAsync()
    assert.equal((await fetch(`${broker.httpUrl}/healthz`)).status, 200, '/healthz ok once the write succeeded')

    const log = openLog(data.path)
    const stored: number[] = []
    for await (const r of log.stream('telemetry').records()) stored.push(Number(r.payload.toString('utf8', 0, 1)))
    await log.close()
    assert.deepEqual(stored, [...acked, refused])
  } finally {
    await broker.stop()
    spawnSync('umount', [small.path])
    small.remove()
    data.remove()
  }
})
