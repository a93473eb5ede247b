// MQTT 5 messages in the log bridge: a record keeps the PUBLISH properties (user properties
// in order with a repeated key, content type, correlation data, response topic, payload
// format indicator, message expiry) and the expiry deadline; the library, the HTTP API
// (NDJSON and SSE) and the CLI show them, on the file store and on Redis Streams. A 3.1.1
// record has none and looks as before (file record version 1, byte for byte); a version-1
// segment written by an older Swallow still reads, and MQTT 5 records follow it.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { openLog, type LogRecord } from '../../../plugins/bridge/log/index.js'
import { Log } from '../../../plugins/bridge/log/log.js'
import { LogReader } from '../../../plugins/bridge/log/reader.js'
import { crc32, encodeFrame, sealFrame, type RecordInput } from '../../../plugins/bridge/log/record.js'
import { runCli, startBroker, type BrokerProcess } from '../../helpers/broker.js'
import { connect } from '../../helpers/mqtt.js'
import { needRedis, startRedis } from '../../helpers/redis.js'
import { tempDir } from '../../helpers/system.js'

const dirs: Array<{ remove: () => void }> = []
after(() => { for (const d of dirs) d.remove() })
function freshDir (prefix?: string): string {
  const d = tempDir(prefix)
  dirs.push(d)
  return d.path
}

const RULES = ['--bridge-rule', 'sensors/#=telemetry:durable', '--sys-interval', 'off']
const SEGMENT = '00000000000000000000.log'
const PROPERTIES = {
  payloadFormatIndicator: true,
  messageExpiryInterval: 3600,
  contentType: 'application/json',
  responseTopic: 'replies/dev-5',
  correlationData: Buffer.from([0, 1, 0xfe, 0xff]),
  userProperties: { zone: 'north', tag: ['first', 'second'], alpha: '1' }
}
const USER_PROPERTIES_JSON = '"userProperties":{"zone":"north","tag":["first","second"],"alpha":"1"}'
const PLAIN_KEYS = ['offset', 'time', 'topic', 'payload', 'encoding', 'qos', 'retain', 'clientId', 'username']

interface Published { before: number, after: number }

/** An MQTT 5 QoS 1 publish with every message property, then a 3.1.1 QoS 1 publish. */
async function publishBoth (url: string): Promise<Published> {
  const v5 = await connect(url, { protocolVersion: 5, clientId: 'dev-5', username: 'v5user' })
  const before = Date.now()
  await v5.publishAsync('sensors/v5', '{"t":21.5}', { qos: 1, properties: PROPERTIES })
  const after = Date.now()
  await v5.endAsync()
  const v3 = await connect(url, { protocolVersion: 4, clientId: 'dev-3' })
  await v3.publishAsync('sensors/v3', 'plain', { qos: 1 })
  await v3.endAsync()
  return { before, after }
}

type Json = Record<string, unknown>

/** The two records as JSON lines: the MQTT 5 one with its properties, the 3.1.1 one as before. */
function checkJson (lines: string[], sent: Published): Json[] {
  assert.equal(lines.length, 2, lines.join('\n'))
  assert.ok(lines[0].includes(USER_PROPERTIES_JSON), `user properties in order: ${lines[0]}`)
  const [v5, v3] = lines.map(l => JSON.parse(l) as Json)
  assert.deepEqual({ ...v5, time: undefined, messageExpiry: undefined }, {
    offset: 0, time: undefined, topic: 'sensors/v5', payload: '{"t":21.5}', encoding: 'utf8', qos: 1, retain: false,
    clientId: 'dev-5', username: 'v5user', messageExpiry: undefined,
    properties: { ...PROPERTIES, correlationData: 'AAH+/w==' }
  })
  const expiry = Date.parse(String(v5.messageExpiry))
  assert.ok(expiry >= sent.before + 3_600_000 && expiry <= sent.after + 3_600_000, `messageExpiry ${String(v5.messageExpiry)}`)
  assert.deepEqual(Object.keys(v3), PLAIN_KEYS)
  assert.deepEqual({ ...v3, time: undefined }, {
    offset: 1, time: undefined, topic: 'sensors/v3', payload: 'plain', encoding: 'utf8', qos: 1, retain: false, clientId: 'dev-3', username: null
  })
  return [v5, v3]
}

async function ndjson (broker: BrokerProcess): Promise<string[]> {
  const res = await fetch(`${broker.httpUrl}/api/streams/telemetry/records?from=earliest`)
  return (await res.text()).split('\n').filter(Boolean)
}

/** The data lines of the first `count` SSE events of /follow?from=earliest. */
async function sse (broker: BrokerProcess, count: number): Promise<string[]> {
  const abort = new AbortController()
  const res = await fetch(`${broker.httpUrl}/api/streams/telemetry/follow?from=earliest`, { signal: abort.signal })
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let text = ''
  while ((text.match(/\n\n/g) ?? []).length < count + 1) text += decoder.decode((await reader.read()).value, { stream: true })
  abort.abort()
  return [...text.matchAll(/^data: (.*)$/gm)].map(m => m[1]).slice(0, count)
}

async function cliJson (...args: string[]): Promise<string[]> {
  const out = await runCli(['log', 'tail', 'telemetry', ...args])
  assert.equal(out.code, 0, out.stderr)
  return out.stdout.split('\n').filter(Boolean)
}

test('file store: an MQTT 5 record keeps its properties (library, HTTP, SSE, CLI); a 3.1.1 record is version 1 as before', async () => {
  const broker = await startBroker({ args: RULES })
  try {
    const sent = await publishBoth(broker.mqttUrl)

    const segment = await readFile(join(broker.dataDir, 'log', 'telemetry', SEGMENT))
    const second = 8 + segment.readUInt32BE(0)
    assert.deepEqual([segment[8], segment[9] & 64], [2, 64], 'the MQTT 5 record: version 2, flag "has extras"')
    assert.deepEqual([segment[second + 8], segment[second + 9] & 64], [1, 0], 'the 3.1.1 record: version 1')

    const log = openLog(broker.dataDir)
    const records: LogRecord[] = []
    for await (const r of log.stream('telemetry').records()) records.push(r)
    await log.close()
    assert.deepEqual(records[0].properties, PROPERTIES)
    assert.deepEqual(Object.keys(records[0].properties?.userProperties ?? {}), ['zone', 'tag', 'alpha'])
    const expiry = records[0].messageExpiry ?? 0
    assert.ok(expiry >= sent.before + 3_600_000 && expiry <= sent.after + 3_600_000, `messageExpiry ${expiry}`)
    assert.ok(!('properties' in records[1]) && !('messageExpiry' in records[1]), 'no MQTT 5 fields on the 3.1.1 record')

    const http = await ndjson(broker)
    checkJson(http, sent)
    assert.deepEqual(await sse(broker, 2), http)
    assert.deepEqual(await cliJson('--data-dir', broker.dataDir), http)
    assert.deepEqual(await cliJson('--url', broker.httpUrl), http)
    const text = await cliJson('--data-dir', broker.dataDir, '--format', 'text')
    assert.match(text.join('\n'), /^0 \S+ sensors\/v5 \{"t":21\.5\}\n1 \S+ sensors\/v3 plain$/)
  } finally {
    await broker.stop()
  }
})

test('Redis Streams store: an "extras" field on MQTT 5 entries only; HTTP, SSE and CLI show the properties', { skip: needRedis() }, async () => {
  const redis = await startRedis()
  const broker = await startBroker({ storage: 'redis', redisUrl: redis.url, args: RULES })
  const r = new Redis(redis.url)
  try {
    const sent = await publishBoth(broker.mqttUrl)
    const entries = await r.xrange('swallow:log:telemetry', '-', '+')
    const fields = entries.map(([, f]) => Object.fromEntries(f.flatMap((v, i) => i % 2 === 0 ? [[v, f[i + 1]]] : [])) as Record<string, string>)
    assert.deepEqual(Object.keys(fields[0]).sort(), ['clientId', 'extras', 'payload', 'qos', 'retain', 'time', 'topic', 'username'])
    assert.deepEqual(Object.keys(fields[1]).sort(), ['clientId', 'payload', 'qos', 'retain', 'time', 'topic'])
    const extras = JSON.parse(fields[0].extras) as { p: Json, c: string, e: number }
    assert.equal(extras.c, 'AAH+/w==', 'Correlation Data as base64 beside the properties')
    assert.equal(extras.p.contentType, 'application/json')
    assert.ok(extras.e >= sent.before + 3_600_000 && extras.e <= sent.after + 3_600_000)

    const http = await ndjson(broker)
    checkJson(http, sent)
    assert.deepEqual(await sse(broker, 2), http)
    assert.deepEqual(await cliJson('--url', broker.httpUrl), http)
  } finally {
    r.disconnect()
    await broker.stop()
    await redis.stop()
  }
})

/** A version-1 frame laid out by hand (the format of earlier Swallow versions). */
function versionOneFrame (offset: number, time: number, topic: string, clientId: string, payload: Buffer): Buffer {
  const t = Buffer.from(topic)
  const c = Buffer.from(clientId)
  const body = Buffer.alloc(26 + t.length + c.length + payload.length)
  body[0] = 1
  body[1] = 1 | 16 // QoS 1, has client id, no username
  body.writeUInt16BE(7, 2)
  body.writeBigUInt64BE(BigInt(offset), 4)
  body.writeBigUInt64BE(BigInt(time), 12)
  body.writeUInt16BE(t.length, 20)
  body.writeUInt16BE(c.length, 22)
  Buffer.concat([t, c, payload]).copy(body, 26)
  const head = Buffer.alloc(8)
  head.writeUInt32BE(body.length, 0)
  head.writeUInt32BE(crc32(body), 4)
  return Buffer.concat([head, body])
}

test('a version-1 segment from an older Swallow still reads; MQTT 5 records follow it and survive a restart', async () => {
  const dataDir = freshDir()
  const dir = join(dataDir, 'log', 'telemetry')
  await mkdir(dir, { recursive: true })
  const time = Date.parse('2026-11-30T12:00:00.000Z')
  const old = versionOneFrame(0, time, 'sensors/old', 'legacy', Buffer.from('v1'))
  await writeFile(join(dir, SEGMENT), old)

  // the current writer produces exactly these bytes for a record without properties
  const input: RecordInput = { topic: 'sensors/old', payload: 'v1', qos: 1, retain: false, messageId: 7, clientId: 'legacy', username: null }
  const frame = encodeFrame(input, time)
  sealFrame(frame, 0)
  assert.ok(frame.equals(old), 'records without properties are written as version 1, unchanged')

  const expected = { offset: 0, time: '2026-11-30T12:00:00.000Z', topic: 'sensors/old', payload: 'v1', encoding: 'utf8', qos: 1, retain: false, clientId: 'legacy', username: null }
  const offline = await cliJson('--data-dir', dataDir)
  assert.deepEqual(offline.map(l => JSON.parse(l) as Json), [expected])

  let broker = await startBroker({ args: RULES, dataDir })
  try {
    const v5 = await connect(broker.mqttUrl, { protocolVersion: 5 })
    await v5.publishAsync('sensors/new', 'v2', { qos: 1, properties: { contentType: 'text/plain', userProperties: { k: ['1', '2'] } } })
    await v5.endAsync()
    await broker.stop()
    broker = await startBroker({ args: RULES, dataDir })
    assert.ok(!broker.logs.some(l => String(l.msg).includes('truncated')), 'the version-2 record is not taken for a torn tail')
    const lines = (await ndjson(broker)).map(l => JSON.parse(l) as Json)
    assert.deepEqual(lines[0], expected)
    assert.deepEqual(lines[1].properties, { contentType: 'text/plain', userProperties: { k: ['1', '2'] } })
    assert.equal(lines[1].messageExpiry, undefined)
    assert.deepEqual((await cliJson('--data-dir', dataDir)).map(l => JSON.parse(l) as Json), lines)
  } finally {
    await broker.stop()
  }
})

test('the file log mixes records with and without extras across segments; a past deadline is kept', async () => {
  const dir = freshDir('swallow-log-v5-')
  const log = await Log.open(dir, 's', { segmentBytes: 4096, retentionBytes: 0, retentionMs: null, maxPendingBytes: 1 << 20 }, { warn: () => {}, info: () => {}, error: () => {} })
  const expired = Date.now() - 60_000
  const input = (i: number): RecordInput => ({
    topic: `t/${i}`, payload: `p${i}`, qos: 1, retain: false, clientId: 'c', username: null,
    ...(i % 3 === 0 ? { properties: { responseTopic: `r/${i}`, correlationData: Buffer.from([i & 0xff]) }, messageExpiry: expired } : {})
  })
  await Promise.all(Array.from({ length: 300 }, (_, i) => new Promise<void>((resolve, reject) => log.appendDurable(input(i), Date.now(), err => err ? reject(err) : resolve()))))
  await log.close()
  const cursor = new LogReader(dir).cursor(0)
  const records: LogRecord[] = []
  for (let batch = await cursor.read(64); batch.length > 0; batch = await cursor.read(64)) records.push(...batch)
  await cursor.close()
  assert.equal(records.length, 300)
  records.forEach((r, i) => {
    assert.equal(r.payload.toString(), `p${i}`)
    if (i % 3 === 0) {
      assert.deepEqual(r.properties, { responseTopic: `r/${i}`, correlationData: Buffer.from([i & 0xff]) })
      assert.equal(r.messageExpiry, expired)
    } else {
      assert.ok(!('properties' in r) && !('messageExpiry' in r), `record ${i} has no extras`)
    }
  })
})
