// Probe 8: damaged storage. Each case of the damaged-LevelDB table (a persistent session with
// queued messages, a clean stop, the damage, a start) with what the start says, what a second
// start says, what `swallow repair` keeps and what the session gets after it; and garbage
// inside a log-bridge segment.
import { closeSync, openSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { runCli, startBroker, type BrokerProcess } from '../../test/helpers/broker.js'
import { connect, connectCollecting } from '../../test/helpers/mqtt.js'
import { tempDir, waitFor } from '../../test/helpers/system.js'
import { newest, queueMessages } from '../../test/broker/queued-session.js'
import { ARGS as BRIDGE_ARGS, RECORDS, damageSegment, fillStream, recordOffsets, streamInfo } from '../../test/plugins/bridge/damage.js'
import { count, metric, type Probe, type Table } from '../probe.js'

const QUEUED = 3000

interface Case { damage: string, table: boolean, apply: (sessions: string) => void }

const CASES: Case[] = [
  { damage: '`.ldb` table truncated to half', table: true, apply: dir => { const f = newest(dir, '.ldb'); truncateSync(f, Math.floor(statSync(f).size / 2)) } },
  { damage: '`.log` truncated to half', table: false, apply: dir => { const f = newest(dir, '.log'); truncateSync(f, Math.floor(statSync(f).size / 2)) } },
  {
    damage: '2,000 bytes of garbage in the middle of the `.log`',
    table: false,
    apply: dir => {
      const f = newest(dir, '.log')
      const fd = openSync(f, 'r+')
      writeSync(fd, Buffer.alloc(2000, 0x5a), 0, 2000, Math.floor(statSync(f).size / 2))
      closeSync(fd)
    }
  },
  { damage: '`CURRENT` deleted', table: true, apply: dir => rmSync(join(dir, 'CURRENT')) },
  { damage: '`LOCK` deleted', table: true, apply: dir => rmSync(join(dir, 'LOCK')) }
]

const start = async (dataDir: string): Promise<BrokerProcess> => await startBroker({ dataDir, args: ['--sys-interval', 'off'] })

/** Starts; a refusal is its one stderr line, shortened to the problem and whether it names the repair command. */
async function tryStart (dataDir: string): Promise<BrokerProcess | string> {
  try { return await start(dataDir) } catch (err) {
    const line = (err as Error).message.replace(/^broker exited with (\d+) before it was ready: /, 'exit $1: ').trim().split('\n')[0].replaceAll(dataDir, '<data-dir>')
    const repair = line.indexOf('; run "swallow repair --data-dir <data-dir>"')
    return (repair === -1 ? line : `${line.slice(0, repair)}; names \`swallow repair --data-dir <data-dir>\``).replace(/swallow: sessions store <data-dir>\/sessions is damaged: /, 'sessions store damaged: ')
  }
}

/** The session's messages: `expected` of them, then a marker published after them (the subscription is made again, as a device does). */
async function drain (broker: BrokerProcess, expected: number): Promise<number> {
  const { client, got } = await connectCollecting(broker.mqttUrl, { clientId: 'offline-sub', clean: false })
  await waitFor(() => got.length >= expected, 15_000, `${expected} messages`).catch(() => {})
  await client.subscribeAsync('q/#', { qos: 1 })
  const pub = await connect(broker.mqttUrl)
  await pub.publishAsync('q/x', 'end', { qos: 1 })
  await pub.endAsync()
  await waitFor(() => got.some(m => m.payload === 'end'), 15_000, 'the marker').catch(() => {})
  await client.endAsync()
  return new Set(got.filter(m => m.payload !== 'end').map(m => m.payload)).size
}

async function startAndDrain (dataDir: string): Promise<string> {
  const broker = await tryStart(dataDir)
  if (typeof broker === 'string') return broker
  try {
    const repaired = broker.logs.find(l => l.store === 'sessions store' && String(l.msg).includes('was repaired'))
    const restored = (repaired?.restored as Record<string, number> | undefined)?.['queued messages']
    const delivered = await drain(broker, restored ?? QUEUED)
    return `${repaired !== undefined ? `logs \`${String(repaired.msg).replace(/^.*?: /, '')}\`; ` : 'started; '}${count(delivered)} of ${count(QUEUED)} delivered`
  } finally {
    await broker.stop()
  }
}

async function leveldbCase (c: Case): Promise<string[]> {
  const dir = tempDir('swallow-soak-damage-')
  try {
    await queueMessages(dir.path, c.table, QUEUED, start)
    c.apply(join(dir.path, 'sessions'))
    const first = await startAndDrain(dir.path)
    if (!first.startsWith('exit')) return [c.damage, first, '—', '—', '—']
    const second = await tryStart(dir.path)
    if (typeof second !== 'string') await second.stop()
    const repair = await runCli(['repair', '--data-dir', dir.path], {}, 60_000)
    const kept = repair.stdout.split('\n').filter(l => l.includes('/sessions:')).map(l => l.trim().replace(/^.*\/sessions: /, 'sessions: ').replace(/; originals in .*$/, '')).join('; ')
    return [c.damage, first, typeof second !== 'string' ? 'started' : second.replace(/ \(found [^)]*\)/, '') === first ? 'refused again (the same problem)' : second, `exit ${repair.code}${kept !== '' ? `: ${kept}` : ''}`, await startAndDrain(dir.path)]
  } finally {
    dir.remove()
  }
}

async function bridgeCase (): Promise<Table> {
  const dir = tempDir('swallow-soak-bridge-')
  let broker: BrokerProcess | null = null
  try {
    await fillStream(dir.path)
    damageSegment(dir.path, segments => segments[1])
    broker = await startBroker({ dataDir: dir.path, args: BRIDGE_ARGS })
    const b = broker
    await waitFor(async () => (await streamInfo(b)).damaged.verified, 10_000, 'the closed segments verified').catch(() => {})
    const info = await streamInfo(broker)
    const offsets = await recordOffsets(broker)
    const warnings = broker.logs.filter(l => String(l.msg).includes('are damaged (CRC)')).map(l => String(l.msg).replaceAll(dir.path, '<data-dir>'))
    return {
      header: ['2,000 random bytes in the second of the segments', 'this run'],
      rows: [
        ['`/api/streams` records', `${count(info.records)} of ${count(RECORDS)} (\`damaged\`: ${info.damaged.ranges.length} range(s), ${count(info.damaged.records)} records, ${count(info.damaged.bytes)} bytes)`],
        ['`/records?from=earliest`', `${count(offsets.length)} (last offset ${offsets[offsets.length - 1] ?? '—'})`],
        ['warning', warnings.length === 0 ? '**none**' : `${warnings.length}: \`${warnings[0]}\``],
        ['/metrics', `\`swallow_bridge_damaged_records{stream="telemetry"} ${await metric(broker, 'swallow_bridge_damaged_records')}\``]
      ]
    }
  } finally {
    await broker?.stop()
    dir.remove()
  }
}

export const corruptionProbe: Probe = {
  id: 'corruption',
  title: 'Damaged storage',
  share: 0.10,
  run: async ctx => {
    const rows: string[][] = []
    for (const c of CASES) {
      rows.push(await leveldbCase(c))
      ctx.log(`${c.damage}: ${rows[rows.length - 1][1]}`)
    }
    return {
      title: 'Damaged storage',
      method: `Embedded LevelDB: a persistent session (MQTT.js, CleanSession 0, \`q/#\` at QoS 1) offline,
${count(QUEUED)} QoS 1 messages queued for it, SIGTERM, the damage, start, the session reconnects (and
subscribes again) until a marker arrives. "Table" cases (\`.ldb\`, \`CURRENT\`, \`LOCK\`) restart the
broker once before the damage, so that the queue is in a \`.ldb\`. A refused start is followed by a
second start without repair, then \`swallow repair --data-dir\` and a start. Log bridge:
\`${BRIDGE_ARGS.slice(0, 2).join(' ')} ${BRIDGE_ARGS.slice(4).join(' ')}\`, ${count(RECORDS)} QoS 1 records of ~190 bytes,
SIGTERM, 2,000 pseudo-random bytes (xorshift32, seed 2026) in the middle of the second segment,
start. Tests: test/broker/corrupt-storage.test.ts, test/plugins/bridge/bridge-damage.test.ts.`,
      tables: [
        { header: ['damage', 'first start', 'second start without repair', '`swallow repair`', 'start after the repair'], rows },
        await bridgeCase()
      ],
      prose: `Not detected (documented in README "Damaged storage"): a \`.log\` truncated after a \`kill -9\`
or a power loss (no clean-stop marker then), bytes changed inside a table that leave it
parseable (classic-level verifies no checksums on reads), a \`LOCK\` deleted while a broker
runs. A deleted \`LOCK\` alone loses nothing, so it is not refused.`
    }
  }
}
