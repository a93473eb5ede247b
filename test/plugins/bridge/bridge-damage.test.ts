// Garbage inside a log-bridge segment (issue #20: 2,000 random bytes in the middle of a
// non-last segment; /api/streams said 3,000 records, /records returned 2,643, no warning).
// The CRCs are checked: the damaged range is logged once, counted in /metrics, listed by
// /api/streams, and every reader skips it to the records after it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { openLog } from '../../../plugins/bridge/log/index.js'
import { startBroker, type BrokerProcess } from '../../helpers/broker.js'
import { connect } from '../../helpers/mqtt.js'
import { tempDir, waitFor } from '../../helpers/system.js'
import { ARGS, RECORDS, damageSegment, fillStream, recordOffsets, streamInfo } from './damage.js'

function damageLines (broker: BrokerProcess): Array<Record<string, unknown>> {
  return broker.logs.filter(l => String(l.msg).includes('are damaged (CRC)'))
}

test('2,000 random bytes inside a closed segment: one warning naming the file and bytes, /metrics, /api/streams and /records agree, the records after it stay readable', async () => {
  const dir = tempDir()
  let broker: BrokerProcess | null = null
  try {
    await fillStream(dir.path)
    const file = damageSegment(dir.path, segments => segments[1])
    broker = await startBroker({ dataDir: dir.path, args: ARGS })
    const b = broker
    await waitFor(async () => (await streamInfo(b)).damaged.verified, 10_000, 'the closed segments verified')

    const info = await streamInfo(broker)
    assert.equal(info.nextOffset, RECORDS)
    assert.equal(info.damaged.ranges.length, 1, JSON.stringify(info.damaged))
    const range = info.damaged.ranges[0]
    assert.equal(range.segment, file)
    assert.ok(range.records > 0 && range.records < 50, `a few records lost: ${range.records}`)
    assert.ok(range.fromByte < statSync(file).size / 2 && range.toByte > statSync(file).size / 2, `the range covers the garbage: ${range.fromByte}-${range.toByte}`)

    const offsets = await recordOffsets(broker)
    assert.equal(offsets.length, info.records, '/records and /api/streams agree')
    assert.equal(offsets.length, RECORDS - range.records)
    assert.equal(offsets[offsets.length - 1], RECORDS - 1, 'the records after the damage are read, to the end')
    const lost = Array.from({ length: RECORDS }, (_, i) => i).filter(i => !offsets.includes(i))
    assert.deepEqual(lost, Array.from({ length: range.records }, (_, i) => range.firstOffset + i), 'exactly the range\'s offsets are missing')

    const lines = damageLines(broker)
    assert.equal(lines.length, 1, 'one warning, also after /records skipped the same range')
    assert.equal(lines[0].level, 40)
    assert.ok(String(lines[0].msg).includes(`${file} bytes ${range.fromByte}-${range.toByte}`), String(lines[0].msg))

    const metrics = await (await fetch(`${broker.httpUrl}/metrics`)).text()
    assert.match(metrics, new RegExp(`swallow_bridge_damaged_records\\{stream="telemetry"\\} ${range.records}\\n`))
    assert.match(metrics, new RegExp(`swallow_bridge_damaged_bytes\\{stream="telemetry"\\} ${range.toByte - range.fromByte}\\n`))

    // The library reads the files the same way (another process could do this while the broker runs).
    const log = openLog(dir.path)
    let read = 0
    for await (const r of log.stream('telemetry').records({ from: 'earliest' })) { void r; read++ }
    await log.close()
    assert.equal(read, offsets.length)
    process.stdout.write(`# damaged segment: ${range.toByte - range.fromByte} bytes, ${range.records} of ${RECORDS} records unreadable, ${offsets.length} read\n`)
  } finally {
    await broker?.stop()
    dir.remove()
  }
})

test('garbage inside the active (last) segment: the records after it are kept, not truncated, and appends continue', async () => {
  const dir = tempDir()
  let broker: BrokerProcess | null = null
  try {
    await fillStream(dir.path)
    damageSegment(dir.path, segments => segments[segments.length - 1])
    broker = await startBroker({ dataDir: dir.path, args: ARGS })
    assert.equal(damageLines(broker).length, 1, 'reported at open')
    assert.ok(!broker.logs.some(l => String(l.msg).includes('truncated')), 'nothing truncated')
    const pub = await connect(broker.mqttUrl, { clientId: 'dev' })
    await pub.publishAsync('sensors/t', 'after', { qos: 1 })
    await pub.endAsync()
    const info = await streamInfo(broker)
    assert.equal(info.nextOffset, RECORDS + 1, 'the next offset follows the last record, after the damage')
    const offsets = await recordOffsets(broker)
    assert.equal(offsets.length, info.records)
    assert.equal(offsets.length, RECORDS + 1 - info.damaged.records)
    assert.equal(offsets[offsets.length - 1], RECORDS)
  } finally {
    await broker?.stop()
    dir.remove()
  }
})
