// Damaged embedded storage (issue #20): each case the fault probe found, on real LevelDB files
// under a temp dir, with a real broker and MQTT.js clients. A damaged store stops the start
// with one line naming it and `swallow repair`, a second start refuses too, the repair
// rebuilds it, and the next start logs what was restored against the last clean stop.
import { afterEach, test } from 'node:test'
import assert from 'node:assert/strict'
import { closeSync, openSync, readdirSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { runCli, startBroker, type BrokerProcess } from '../helpers/broker.js'
import { connect, connectCollecting } from '../helpers/mqtt.js'
import { tempDir, waitFor } from '../helpers/system.js'
import { newest, queueMessages as queue } from './queued-session.js'

const QUEUED = 1000

// Every broker a test starts is stopped after it, also when an assertion failed midway.
const started: BrokerProcess[] = []
async function start (dataDir?: string): Promise<BrokerProcess> {
  const broker = await startBroker({ dataDir, args: ['--sys-interval', 'off'] })
  started.push(broker)
  return broker
}
afterEach(async () => { for (const broker of started.splice(0)) await broker.stop() })

const queueMessages = async (dataDir: string, restartAfter: boolean): Promise<void> => { await queue(dataDir, restartAfter, QUEUED, start) }

async function refusesToStart (dataDir: string, problem: RegExp): Promise<string> {
  const r = await runCli(['start', '--mqtt-port', '0', '--ws-port', 'off', '--http-port', 'off', '--data-dir', dataDir, '--log-format', 'json'])
  assert.equal(r.code, 1, `exit code 1: ${r.stderr}`)
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line: ${r.stderr}`)
  assert.match(lines[0], problem)
  assert.ok(lines[0].includes(`swallow repair --data-dir ${dataDir}`), `names the recovery command: ${lines[0]}`)
  return lines[0]
}

async function repair (dataDir: string): Promise<string> {
  const r = await runCli(['repair', '--data-dir', dataDir])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /not recoverable/)
  return r.stdout
}

/** Starts after the repair, reads the "repaired" line and what the session gets. */
async function restartAndDrain (dataDir: string): Promise<{ broker: BrokerProcess, restored: number, before: number, got: number[] }> {
  const broker = await start(dataDir)
  const line = broker.logs.find(l => l.store === 'sessions store' && String(l.msg).includes('was repaired'))
  assert.ok(line, 'the start after a repair logs what the sessions store restored')
  const restored = (line.restored as Record<string, number>)['queued messages']
  const before = (line.atLastCleanStop as Record<string, number>)['queued messages']
  const { client, got } = await connectCollecting(broker.mqttUrl, { clientId: 'offline-sub', clean: false })
  await waitFor(() => got.length >= restored, 15_000, `${restored} restored messages`)
  // The queue is empty once a marker published after the restart arrives behind it (the
  // subscription is made again, as a device does when its session came back without it).
  await client.subscribeAsync('q/#', { qos: 1 })
  const pub = await connect(broker.mqttUrl)
  await pub.publishAsync('q/x', 'end', { qos: 1 })
  await pub.endAsync()
  await waitFor(() => got.some(m => m.payload === 'end'), 5000, 'the marker')
  await client.endAsync()
  return { broker, restored, before, got: got.filter(m => m.payload !== 'end').map(m => Number(m.payload)) }
}

function inOrderWithoutDuplicates (got: number[]): void {
  for (let i = 1; i < got.length; i++) assert.ok(got[i] > got[i - 1], `in order, no duplicate at ${i}: ${got[i - 1]}, ${got[i]}`)
}

test('a truncated .ldb table stops the start with one line naming it; after swallow repair the broker starts and logs the loss', async () => {
  const dir = tempDir()
  try {
    await queueMessages(dir.path, true)
    const table = newest(join(dir.path, 'sessions'), '.ldb')
    truncateSync(table, Math.floor(statSync(table).size / 2))
    const line = await refusesToStart(dir.path, /sessions store .*sessions is damaged: .*\d+\.ldb/)
    assert.ok(line.includes(table.split('/').pop() as string), line)
    await refusesToStart(dir.path, /is damaged/)
    assert.match(await repair(dir.path), /\.ldb unreadable/)
    const { broker, restored, before, got } = await restartAndDrain(dir.path)
    assert.equal(before, QUEUED)
    assert.ok(restored < QUEUED, `the table held the queue: ${restored} restored`)
    assert.equal(got.length, restored)
    await broker.stop()
  } finally {
    dir.remove()
  }
})

test('a truncated .log after a clean stop is detected (the clean-stop sentinel is missing), not replayed silently', async () => {
  const dir = tempDir()
  try {
    await queueMessages(dir.path, false)
    const log = newest(join(dir.path, 'sessions'), '.log')
    truncateSync(log, Math.floor(statSync(log).size / 2))
    await refusesToStart(dir.path, /records written last before the clean stop .* are missing \(\d+\.log was truncated/)
    // LevelDB replaced that log by a table at the first open: the refusal holds through the note.
    await refusesToStart(dir.path, /records written last before the clean stop/)
    await repair(dir.path)
    const { broker, restored, before, got } = await restartAndDrain(dir.path)
    assert.equal(before, QUEUED)
    assert.ok(restored > 0 && restored < QUEUED, `${restored} restored`)
    assert.equal(got.length, restored)
    assert.deepEqual(got, Array.from({ length: restored }, (_, i) => i), 'the first records of the log are kept, in order')
    const line = broker.logs.find(l => String(l.msg).includes('was repaired'))
    assert.match(String(line?.msg), new RegExp(`${restored} of ${QUEUED} queued messages \\(${QUEUED - restored} lost\\)`))
    await broker.stop()
  } finally {
    dir.remove()
  }
})

test('garbage inside a .log: LevelDB drops the records, Swallow refuses to start and names the bytes dropped', async () => {
  const dir = tempDir()
  try {
    await queueMessages(dir.path, false)
    const log = newest(join(dir.path, 'sessions'), '.log')
    const fd = openSync(log, 'r+')
    writeSync(fd, Buffer.alloc(2000, 0x5a), 0, 2000, Math.floor(statSync(log).size / 2))
    closeSync(fd)
    await refusesToStart(dir.path, /LevelDB dropped \d+ corrupt bytes of \d+\.log while opening it/)
    await refusesToStart(dir.path, /LevelDB dropped/)
    await repair(dir.path)
    const { broker, restored, got } = await restartAndDrain(dir.path)
    assert.ok(restored > 0 && restored < QUEUED, `${restored} restored`)
    assert.equal(got.length, restored)
    inOrderWithoutDuplicates(got)
    await broker.stop()
  } finally {
    dir.remove()
  }
})

test('a deleted CURRENT stops the start before LevelDB can delete the tables; swallow repair restores every record', async () => {
  const dir = tempDir()
  try {
    await queueMessages(dir.path, true)
    rmSync(join(dir.path, 'sessions', 'CURRENT'))
    await refusesToStart(dir.path, /sessions store .* is damaged: its CURRENT file is missing/)
    assert.ok(readdirSync(join(dir.path, 'sessions')).some(f => f.endsWith('.ldb')), 'the table is still there')
    await repair(dir.path)
    const { broker, restored, got } = await restartAndDrain(dir.path)
    assert.equal(restored, QUEUED)
    assert.deepEqual(got, Array.from({ length: QUEUED }, (_, i) => i))
    await broker.stop()
  } finally {
    dir.remove()
  }
})

test('the retained store is checked the same way: a deleted CURRENT is refused, then repaired with its messages', async () => {
  const dir = tempDir()
  try {
    await queueMessages(dir.path, true)
    rmSync(join(dir.path, 'retained', 'CURRENT'))
    await refusesToStart(dir.path, /retained store .*retained is damaged: its CURRENT file is missing/)
    await repair(dir.path)
    const broker = await start(dir.path)
    const line = broker.logs.find(l => l.store === 'retained store')
    assert.deepEqual(line?.restored, { 'retained messages': 1 }, JSON.stringify(broker.logs.filter(l => l.plugin === 'retained')))
    const { client, got } = await connectCollecting(broker.mqttUrl)
    await client.subscribeAsync('r/#', { qos: 1 })
    await waitFor(() => got.length === 1, 5000, 'the retained message')
    assert.equal(got[0].payload, 'value')
    await client.endAsync()
    await broker.stop()
  } finally {
    dir.remove()
  }
})

test('a deleted LOCK loses nothing: LevelDB recreates it and every queued message is delivered', async () => {
  const dir = tempDir()
  try {
    await queueMessages(dir.path, true)
    rmSync(join(dir.path, 'sessions', 'LOCK'))
    const broker = await start(dir.path)
    const { client, got } = await connectCollecting(broker.mqttUrl, { clientId: 'offline-sub', clean: false })
    await waitFor(() => got.length >= QUEUED, 15_000, `${QUEUED} queued messages`)
    assert.deepEqual(got.map(m => Number(m.payload)), Array.from({ length: QUEUED }, (_, i) => i))
    await client.endAsync()
    await broker.stop()
  } finally {
    dir.remove()
  }
})

test('swallow repair refuses while a broker runs on the data dir, and says so in one line', async () => {
  const broker = await start()
  try {
    const r = await runCli(['repair', '--data-dir', broker.dataDir])
    assert.equal(r.code, 1)
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    assert.match(r.stderr, /is in use by a running broker; stop it/)
  } finally {
    await broker.stop()
  }
})
