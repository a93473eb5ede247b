// Probe 7: the sessions store on a full disk (a 16 MiB tmpfs; needs root to mount). An offline
// persistent session, a filler leaving 1 MiB, 100 KiB QoS 1 publishes until one gets no PUBACK,
// /healthz while full, the filler removed, 20 more, kill -9, restart: what reaches the session.
import { rmSync, statfsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startBroker, type BrokerProcess } from '../../test/helpers/broker.js'
import { publishUntilRefused, smallDisk } from '../../test/helpers/full-disk.js'
import { connect, connectCollecting } from '../../test/helpers/mqtt.js'
import { rawMqtt } from '../../test/helpers/raw5.js'
import { waitFor } from '../../test/helpers/system.js'
import { count, type Probe } from '../probe.js'

interface Health { status: number, body: { status: string, storage?: { failingWrites?: Array<{ store: string, error: string }> } } }

async function health (broker: BrokerProcess): Promise<Health> {
  const res = await fetch(`${broker.httpUrl}/healthz`)
  return { status: res.status, body: await res.json() as Health['body'] }
}

const describe = (h: Health): string => {
  const failing = h.body.storage?.failingWrites ?? []
  return `${h.status} \`${h.body.status}\`${failing.length > 0 ? `, failing writes: ${failing.map(f => `${f.store} (${f.error.replace(/^.*: /, '')})`).join(', ')}` : ''}`
}

export const diskFullProbe: Probe = {
  id: 'disk-full',
  title: 'Full disk (sessions store)',
  share: 0.05,
  run: async ctx => {
    const disk = smallDisk('16m')
    if (!disk.mounted) {
      disk.remove()
      const why = 'not run: mounting a tmpfs needs root (run the soak as root for this probe)'
      ctx.log(`*** SKIPPING: ${why} ***`)
      return { title: 'Full disk (sessions store)', method: why, tables: [] }
    }
    let broker: BrokerProcess | null = null
    try {
      broker = await startBroker({ dataDir: disk.path, args: ['--sys-interval', 'off'] })
      const sub = await connect(broker.mqttUrl, { clientId: 'offline-sub', clean: false })
      await sub.subscribeAsync('q/#', { qos: 1 })
      await sub.endAsync()
      const { bavail, bsize } = statfsSync(disk.path)
      writeFileSync(join(disk.path, 'filler'), Buffer.alloc(bavail * bsize - 1024 * 1024))
      const client = await connect(broker.mqttUrl, { clientId: 'dev' })
      client.on('error', () => {})
      const before = await publishUntilRefused(client, 0, 50)
      const b = broker
      const full = await waitFor(async () => { const h = await health(b); return h.status === 503 ? h : null }, 5000, '/healthz 503').catch(async () => await health(b))
      const connack = (await rawMqtt(broker.mqttPort, 4, { clientId: 'new-persistent-3', clean: false })).received[0] as { returnCode?: number } | undefined
      rmSync(join(disk.path, 'filler'))
      const t0 = Date.now()
      const ok = await waitFor(async () => (await health(b)).status === 200, 10_000, '/healthz ok').then(() => `200 \`ok\` after ${Date.now() - t0} ms`, () => `still ${describe(full)} after 10 s`)
      const again = await connect(broker.mqttUrl, { clientId: 'dev' })
      again.on('error', () => {})
      const after = await publishUntilRefused(again, 1000, 20)
      await again.endAsync().catch(() => {})
      await broker.crash()
      broker = await startBroker({ dataDir: disk.path, args: ['--sys-interval', 'off'] })
      const acked = [...before.acked, ...after.acked]
      const { client: back, got } = await connectCollecting(broker.mqttUrl, { clientId: 'offline-sub', clean: false })
      await waitFor(() => got.length >= acked.length, 15_000, 'the acknowledged messages').catch(() => {})
      await back.endAsync()
      const received = new Set(got.map(m => Number(m.payload.split(';')[0])))
      const lost = acked.filter(i => !received.has(i)).length
      ctx.log(`${before.acked.length} acknowledged before, ${after.acked.length} after, ${lost} lost`)
      return {
        title: 'Full disk (sessions store)',
        method: `The data dir on a 16 MiB tmpfs, an offline persistent session (\`q/#\` QoS 1), a filler file
leaving 1 MiB, QoS 1 publishes of 100 KiB until one gets no PUBACK, the filler removed, 20 more
publishes, \`kill -9\`, restart, the session reconnects. Test: test/broker/disk-full.test.ts.`,
        tables: [{
          header: ['', 'this run'],
          rows: [
            ['acknowledged before the disk filled', `${count(before.acked.length)} (the next: ${before.refused >= 0 ? 'connection closed, no PUBACK' : '**acknowledged: the disk never filled**'})`],
            ['`/healthz` while full', describe(full)],
            ['a new persistent session while full (MQTT 3.1.1)', connack === undefined ? 'closed without CONNACK' : `CONNACK ${connack.returnCode ?? '?'}`],
            ['`/healthz` after the filler is removed', ok],
            ['acknowledged after space came back', `${count(after.acked.length)} of 20`],
            ['delivered after `kill -9` and restart', `${count(acked.length - lost)} of ${count(acked.length)}${lost > 0 ? ` (**${lost} acknowledged and lost**)` : ''}`]
          ]
        }],
        prose: `Cause of the loss before the fix (historical section): after a failed write, LevelDB's log
writer keeps its block position as if the partial record were whole, so every later record lands
misaligned; LevelDB acknowledges them and drops them ("checksum mismatch") when it replays the log
at the next open. On its own, with classic-level 3 on a full 2 MiB tmpfs: 119 puts stored, 81
failed, space freed, 200 more puts resolved, 119 keys after a reopen; with a \`compactRange\` right
after space came back (what \`src/level-write-gate.ts\` does before letting writes through), 319
keys. The log bridge's files were already safe (a failed write truncates the segment back); their
failure shows on \`/healthz\` too (\`test/plugins/bridge/bridge-diskfull.test.ts\`). Mosquitto is not
measured here: with \`persistence true\` it writes its database every \`autosave_interval\` and at
exit, not per message.`
      }
    } finally {
      await broker?.stop()
      disk.remove()
    }
  }
}
