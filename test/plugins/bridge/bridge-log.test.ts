// The embedded log store on its own: framing, segments, indexes, retention, recovery.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { appendFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Log, type LogOptions } from '../../../plugins/bridge/log/log.js'
import { LogReader } from '../../../plugins/bridge/log/reader.js'
import { FileGroupStore } from '../../../plugins/bridge/log/groups.js'
import type { RecordInput, LogRecord } from '../../../plugins/bridge/log/record.js'
import { tempDir } from '../../helpers/system.js'

const dirs: Array<{ remove: () => void }> = []
after(() => { for (const d of dirs) d.remove() })
function freshDir (): string {
  const d = tempDir('swallow-log-test-')
  dirs.push(d)
  return d.path
}

const quiet = { warn: () => {}, info: () => {}, error: () => {} }
const opts = (o: Partial<LogOptions> = {}): LogOptions => ({ segmentBytes: 64 * 1024 * 1024, retentionBytes: 0, retentionMs: null, maxPendingBytes: 16 << 20, ...o })
const rec = (i: number, size = 20): RecordInput => ({
  topic: `sensors/${i % 7}`, payload: Buffer.from(String(i).padEnd(size, '.')), qos: 1, retain: i % 5 === 0, clientId: `c${i % 3}`, username: i % 2 ? 'alice' : null, messageId: i & 0xffff
})

function appendAll (log: Log, from: number, to: number, size = 20, time = (i: number) => 1_700_000_000_000 + i): Promise<void> {
  const waits: Array<Promise<void>> = []
  for (let i = from; i < to; i++) {
    waits.push(new Promise((resolve, reject) => log.appendDurable(rec(i, size), time(i), err => err ? reject(err) : resolve())))
  }
  return Promise.all(waits).then(() => {})
}

async function readAll (dir: string, from = 0): Promise<LogRecord[]> {
  const cursor = new LogReader(dir).cursor(from)
  const out: LogRecord[] = []
  for (;;) {
    const batch = await cursor.read(333)
    if (batch.length === 0) break
    out.push(...batch)
  }
  await cursor.close()
  return out
}

test('records round-trip with every field, offsets from 0 in append order', async () => {
  const dir = freshDir()
  const log = await Log.open(dir, 's', opts(), quiet)
  await appendAll(log, 0, 1000)
  const records = await readAll(dir)
  assert.equal(records.length, 1000)
  records.forEach((r, i) => {
    assert.equal(r.offset, i)
    assert.equal(r.topic, `sensors/${i % 7}`)
    assert.equal(r.payload.toString(), String(i).padEnd(20, '.'))
    assert.equal(r.retain, i % 5 === 0)
    assert.equal(r.clientId, `c${i % 3}`)
    assert.equal(r.username, i % 2 ? 'alice' : null)
    assert.equal(r.time, 1_700_000_000_000 + i)
  })
  assert.deepEqual(await new LogReader(dir).bounds(), { first: 0, next: 1000, bytes: log.sizeBytes })
  await log.close()
})

test('appends arriving together share one fsync (group commit)', async () => {
  const dir = freshDir()
  const log = await Log.open(dir, 's', opts(), quiet)
  let batches = 0
  log.subscribe(() => { batches++ })
  await appendAll(log, 0, 5000)
  assert.ok(batches < 50, `5000 concurrent durable appends took ${batches} write batches`)
  await log.close()
})

test('reads at any offset and time work across segment boundaries', async () => {
  const dir = freshDir()
  const log = await Log.open(dir, 's', opts({ segmentBytes: 4096 }), quiet)
  await appendAll(log, 0, 3000, 40, i => 1_700_000_000_000 + i * 10)
  const segments = (await readdir(dir)).filter(n => n.endsWith('.log'))
  assert.ok(segments.length > 20, `expected many segments, got ${segments.length}`)
  for (const from of [0, 1, 57, 58, 59, 1234, 2999]) {
    const records = await readAll(dir, from)
    assert.equal(records.length, 3000 - from, `from ${from}`)
    assert.ok(records.every((r, i) => r.offset === from + i))
  }
  const reader = new LogReader(dir)
  assert.equal(await reader.offsetForTime(1_700_000_000_000 + 12_345), 1235)
  assert.equal(await reader.offsetForTime(0), 0)
  assert.equal(await reader.offsetForTime(1_800_000_000_000), 3000)
  await log.close()
})

test('retention by size deletes whole old segments; readers start at the oldest kept', async () => {
  const dir = freshDir()
  const log = await Log.open(dir, 's', opts({ segmentBytes: 4096, retentionBytes: 20_000 }), quiet)
  await appendAll(log, 0, 2000, 40)
  assert.ok(log.sizeBytes <= 20_000 + 4096, `size ${log.sizeBytes}`)
  assert.ok(log.firstOffset > 0)
  const records = await readAll(dir, 0)
  assert.equal(records[0].offset, log.firstOffset)
  assert.equal(records[records.length - 1].offset, 1999)
  assert.ok(records.every((r, i) => r.offset === log.firstOffset + i))
  await log.close()
})

test('retention by age deletes segments whose newest record is too old', async () => {
  const dir = freshDir()
  const log = await Log.open(dir, 's', opts({ segmentBytes: 4096, retentionMs: 60_000 }), quiet)
  const now = Date.now()
  await appendAll(log, 0, 500, 40, () => now - 3_600_000)
  await appendAll(log, 500, 1000, 40, () => now)
  await log.enforceRetention()
  assert.ok(log.firstOffset > 400 && log.firstOffset <= 500, `first ${log.firstOffset}`)
  await log.close()
})

test('a torn tail is truncated at start and logged with the byte count', async () => {
  const dir = freshDir()
  let log = await Log.open(dir, 's', opts({ segmentBytes: 4096 }), quiet)
  await appendAll(log, 0, 300, 40)
  await log.close()
  const last = (await readdir(dir)).filter(n => n.endsWith('.log')).sort().pop() as string
  await appendFile(join(dir, last), Buffer.from([0, 0, 0, 99, 1, 2, 3, 4, 5, 6, 7]))
  const warnings: Array<{ obj: Record<string, unknown>, msg: string }> = []
  log = await Log.open(dir, 's', opts({ segmentBytes: 4096 }), { ...quiet, warn: (obj, msg) => warnings.push({ obj: obj as Record<string, unknown>, msg }) })
  assert.equal(warnings.length, 1)
  assert.equal(warnings[0].obj.bytes, 11)
  assert.match(warnings[0].msg, /truncated 11 bytes/)
  assert.equal(log.nextOffset, 300)
  await appendAll(log, 300, 310, 40)
  const records = await readAll(dir)
  assert.equal(records.length, 310)
  assert.ok(records.every((r, i) => r.offset === i))
  await log.close()
})

test('missing or stale indexes are rebuilt from the data', async () => {
  const dir = freshDir()
  let log = await Log.open(dir, 's', opts({ segmentBytes: 8192 }), quiet)
  await appendAll(log, 0, 2000, 40)
  await log.close()
  const idx = (await readdir(dir)).filter(n => n.endsWith('.idx')).sort()
  await rm(join(dir, idx[0]))
  await writeFile(join(dir, idx[1]), Buffer.alloc(48, 0xff))
  const infos: string[] = []
  log = await Log.open(dir, 's', opts({ segmentBytes: 8192 }), { ...quiet, info: (_o, msg) => infos.push(msg) })
  assert.equal(infos.filter(m => m.includes('rebuilt the index')).length, 2)
  for (const from of [0, 100, 150, 999]) assert.equal((await readAll(dir, from))[0].offset, from)
  await log.close()
})

test('a reader follows a live writer and never sees a partial record', async () => {
  const dir = freshDir()
  const log = await Log.open(dir, 's', opts({ segmentBytes: 16384 }), quiet)
  const cursor = new LogReader(dir).cursor(0)
  const seen: number[] = []
  const writing = (async () => { for (let k = 0; k < 20; k++) await appendAll(log, k * 100, k * 100 + 100, 60) })()
  const deadline = Date.now() + 10_000
  while (seen.length < 2000 && Date.now() < deadline) {
    const batch = await cursor.read(100)
    for (const r of batch) seen.push(r.offset)
    if (batch.length === 0) await new Promise(resolve => setTimeout(resolve, 2))
  }
  await writing
  assert.equal(seen.length, 2000)
  assert.ok(seen.every((o, i) => o === i))
  await cursor.close()
  await log.close()
})

test('a written append is acknowledged once it is in the file, before its fsync; the fsync follows within the interval', async () => {
  const dir = freshDir()
  const log = await Log.open(dir, 's', opts({ syncIntervalMs: 200 }), quiet)
  const durableAtAck: number[] = []
  await Promise.all(Array.from({ length: 200 }, (_, i) => new Promise<void>((resolve, reject) => log.appendWritten(rec(i), Date.now(), err => {
    if (err) return reject(err)
    durableAtAck.push(log.durableOffset)
    resolve()
  }))))
  // Acknowledged without waiting for an fsync: the durable end had not reached them yet ...
  assert.ok(durableAtAck.every(d => d === 0), `durable offsets at acknowledgement: ${[...new Set(durableAtAck)].join(',')}`)
  // ... but the records are in the file, where a restarted broker (or the file readers) find them.
  assert.equal((await readAll(dir)).length, 200)
  // The periodic fsync moves the durable end (what the broker's API hands out) over them.
  if (log.durableOffset < 200) {
    const keepAlive = setInterval(() => {}, 1000) // the log's own sync timer does not hold the process
    await new Promise<void>(resolve => {
      const stop = log.subscribe(() => { if (log.durableOffset >= 200) { stop(); resolve() } })
    })
    clearInterval(keepAlive)
  }
  assert.equal(log.durableOffset, 200)
  // A durable append sharing a batch with written ones fsyncs them all.
  await Promise.all([
    new Promise<void>(resolve => log.appendWritten(rec(200), Date.now(), () => resolve())),
    new Promise<void>(resolve => log.appendDurable(rec(201), Date.now(), () => resolve()))
  ])
  assert.equal(log.durableOffset, 202)
  await log.close()
})

test('async appends beyond the bounded buffer are refused and counted, durable ones are not', async () => {
  const dir = freshDir()
  const log = await Log.open(dir, 's', opts({ maxPendingBytes: 1000 }), quiet)
  let accepted = 0
  for (let i = 0; i < 100; i++) if (log.appendAsync(rec(i, 100), Date.now())) accepted++
  assert.ok(accepted > 0 && accepted < 100, `accepted ${accepted}`)
  assert.equal(log.dropped, 100 - accepted)
  await appendAll(log, 0, 50, 100) // durable appends always queue (the PUBACK waits instead)
  const records = await readAll(dir)
  assert.equal(records.length, accepted + 50)
  await log.close()
})

test('consumer group offsets are committed atomically and read back', async () => {
  const dir = freshDir()
  const groups = new FileGroupStore(dir)
  assert.equal(await groups.get('billing'), null)
  await groups.commit('billing', 42)
  assert.equal((await new FileGroupStore(dir).get('billing'))?.offset, 42)
})
