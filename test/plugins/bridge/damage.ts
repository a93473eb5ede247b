// A log-bridge stream with damage in one segment (issue #20): filled by a real broker, then
// 2,000 pseudo-random bytes written into a segment. For bridge-damage.test.ts and the soak's
// corruption probe (soak/probes/corruption.ts).
import assert from 'node:assert/strict'
import { closeSync, openSync, readdirSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { startBroker, type BrokerProcess } from '../../helpers/broker.js'
import { connect } from '../../helpers/mqtt.js'

export const ARGS = ['--bridge-rule', 'sensors/#=telemetry:durable', '--sys-interval', 'off', '--bridge-segment-size', '64KiB']
export const RECORDS = 3000

export interface Damaged { records: number, bytes: number, verified: boolean, ranges: Array<{ segment: string, fromByte: number, toByte: number, firstOffset: number, lastOffset: number, records: number }> }
export interface StreamInfo { name: string, records: number, nextOffset: number, damaged: Damaged }

/** xorshift32: the same "random" bytes on every run. */
export function garbage (n: number, seed = 2026): Buffer {
  const out = Buffer.alloc(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

export async function fillStream (dataDir: string): Promise<void> {
  const broker = await startBroker({ dataDir, args: ARGS })
  const pub = await connect(broker.mqttUrl, { clientId: 'dev' })
  await Promise.all(Array.from({ length: RECORDS }, (_, i) => pub.publishAsync('sensors/t', JSON.stringify({ i, pad: 'x'.repeat(150) }), { qos: 1 })))
  await pub.endAsync()
  assert.equal(await broker.stop(), 0)
}

/** Writes the garbage into the middle of the segment `which` (an index into the sorted segments). */
export function damageSegment (dataDir: string, which: (segments: string[]) => string): string {
  const dir = join(dataDir, 'log', 'telemetry')
  const segments = readdirSync(dir).filter(f => f.endsWith('.log')).sort()
  assert.ok(segments.length >= 3, `several segments: ${segments.length}`)
  const file = join(dir, which(segments))
  const fd = openSync(file, 'r+')
  writeSync(fd, garbage(2000), 0, 2000, Math.floor(statSync(file).size / 2) - 1000)
  closeSync(fd)
  return file
}

export async function streamInfo (broker: BrokerProcess): Promise<StreamInfo> {
  const { streams } = await (await fetch(`${broker.httpUrl}/api/streams`)).json() as { streams: StreamInfo[] }
  return streams.find(s => s.name === 'telemetry') as StreamInfo
}

export async function recordOffsets (broker: BrokerProcess): Promise<number[]> {
  const text = await (await fetch(`${broker.httpUrl}/api/streams/telemetry/records?from=earliest&limit=100000`)).text()
  return text.trim().split('\n').map(line => (JSON.parse(line) as { offset: number }).offset)
}
