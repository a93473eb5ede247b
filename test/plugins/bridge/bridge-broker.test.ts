// The log bridge in a real broker: MQTT publish -> record, read back by the CLI (files and
// HTTP) and the HTTP API; torn tails at start; consumer groups across consumer restarts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { appendFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { openLog } from '../../../plugins/bridge/log/index.js'
import { runCli, startBroker } from '../../helpers/broker.js'
import { connect } from '../../helpers/mqtt.js'

const RULES = ['--bridge-rule', 'sensors/#=telemetry:durable', '--bridge-rule', 'logs/+/app=applogs:async', '--bridge-rule', 'sensors/alarm=alarms', '--bridge-rule', 'events/#=events:written', '--sys-interval', 'off']

test('a QoS 1 publish matching a rule is a record with every field, read by CLI, API and library', async () => {
  const broker = await startBroker({ args: RULES })
  try {
    const client = await connect(broker.mqttUrl, { clientId: 'dev-1', username: 'alice' })
    await client.publishAsync('sensors/k1/temp', '21.5', { qos: 1 })
    await client.publishAsync('sensors/alarm', 'fire', { qos: 1, retain: true })
    await client.publishAsync('logs/7/app', Buffer.from([0xff, 0x00]), { qos: 0 })
    await client.publishAsync('other/topic', 'not mirrored', { qos: 1 })
    // ack:written: once the PUBACK is here, the record is in the file (the file readers see it
    // before the broker's API does, which hands out fsynced records only)
    await client.publishAsync('events/door', 'open', { qos: 1 })
    const events = (await runCli(['log', 'tail', 'events', '--data-dir', broker.dataDir])).stdout.trim().split('\n').map(l => JSON.parse(l))
    assert.deepEqual(events.map(r => [r.topic, r.payload]), [['events/door', 'open']])
    await client.endAsync()

    const lines = (await runCli(['log', 'tail', 'telemetry', '--data-dir', broker.dataDir])).stdout.trim().split('\n').map(l => JSON.parse(l))
    assert.equal(lines.length, 2)
    assert.deepEqual({ ...lines[0], time: undefined }, {
      offset: 0, time: undefined, topic: 'sensors/k1/temp', payload: '21.5', encoding: 'utf8', qos: 1, retain: false, clientId: 'dev-1', username: 'alice'
    })
    assert.equal(lines[1].topic, 'sensors/alarm')
    assert.equal(lines[1].retain, true)

    // one message matching two streams lands once in each
    const alarms = await runCli(['log', 'tail', 'alarms', '--url', broker.httpUrl, '--format', 'text'])
    assert.match(alarms.stdout, /^0 \S+ sensors\/alarm fire\n$/, alarms.stderr)

    // async records arrive without waiting; binary payloads come as base64
    let applogs: Array<{ payload: string, encoding: string }> = []
    for (let i = 0; i < 50 && applogs.length === 0; i++) {
      const res = await fetch(`${broker.httpUrl}/api/streams/applogs/records?from=earliest`)
      applogs = (await res.text()).split('\n').filter(Boolean).map(l => JSON.parse(l))
      if (applogs.length === 0) await new Promise(resolve => setTimeout(resolve, 50))
    }
    assert.deepEqual(applogs.map(r => [r.payload, r.encoding]), [['/wA=', 'base64']])

    const streams = await (await fetch(`${broker.httpUrl}/api/streams`)).json() as { streams: Array<{ name: string, records: number }> }
    assert.deepEqual(streams.streams.map(s => [s.name, s.records]).sort(), [['alarms', 1], ['applogs', 1], ['events', 1], ['telemetry', 2]])
    const metrics = await (await fetch(`${broker.httpUrl}/metrics`)).text()
    assert.match(metrics, /^swallow_bridge_records_total\{stream="telemetry"\} 2$/m)
    assert.match(metrics, /^swallow_bridge_records_total\{stream="applogs"\} 1$/m)

    const log = openLog(broker.dataDir)
    const records = []
    for await (const r of log.stream('telemetry').records({ from: 1 })) records.push(r)
    assert.deepEqual(records.map(r => r.topic), ['sensors/alarm'])
    await log.close()
  } finally {
    await broker.stop()
  }
})

test('publishes made by the broker itself ($SYS, no client) are mirrored too', async () => {
  const broker = await startBroker({ args: ['--bridge-rule', '$SYS/broker/uptime=sys:async', '--sys-interval', '100ms'] })
  try {
    let lines: string[] = []
    for (let i = 0; i < 60 && lines.length === 0; i++) {
      await new Promise(resolve => setTimeout(resolve, 100))
      lines = (await runCli(['log', 'tail', 'sys', '--data-dir', broker.dataDir, '--format', 'text', '--limit', '1'])).stdout.trim().split('\n').filter(Boolean)
    }
    assert.match(lines[0], /^0 \S+ \$SYS\/broker\/uptime \d+ seconds$/)
  } finally {
    await broker.stop()
  }
})

test('followers see new records live: SSE from the API, --follow from the files; --from takes a time', async () => {
  const broker = await startBroker({ args: RULES })
  const abort = new AbortController()
  try {
    const client = await connect(broker.mqttUrl)
    await client.publishAsync('sensors/f', 'old', { qos: 1 })
    const since = new Date().toISOString()
    await new Promise(resolve => setTimeout(resolve, 20))
    const res = await fetch(`${broker.httpUrl}/api/streams/telemetry/follow?from=latest`, { signal: abort.signal })
    assert.equal(res.headers.get('content-type'), 'text/event-stream')
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    // --from 1: the follower reads records 1 and 2 whenever it gets going, before or after they are written.
    const follower = runCli(['log', 'tail', 'telemetry', '--follow', '--from', '1', '--limit', '2', '--format', 'text', '--data-dir', broker.dataDir], {}, 40_000)
    await client.publishAsync('sensors/f', 'new-1', { qos: 1 })
    await client.publishAsync('sensors/f', 'new-2', { qos: 1 })
    let text = ''
    while ((text.match(/event: record/g) ?? []).length < 2) text += new TextDecoder().decode((await reader.read()).value)
    assert.match(text, /id: 1\nevent: record\ndata: \{"offset":1,[^\n]*"payload":"new-1"/)
    assert.match(text, /id: 2\n/)
    const followed = await follower
    assert.deepEqual(followed.stdout.trim().split('\n').map(l => l.split(' ')[3]), ['new-1', 'new-2'], `exit ${followed.code}: ${followed.stderr}`)
    const fromTime = await runCli(['log', 'tail', 'telemetry', '--from', since, '--format', 'text', '--data-dir', broker.dataDir])
    assert.deepEqual(fromTime.stdout.trim().split('\n').map(l => l.split(' ')[0]), ['1', '2'])
    await client.endAsync()
  } finally {
    abort.abort()
    await broker.stop()
  }
})

test('a bad stream name in --bridge-rule stops the broker at start with exit code 2', async () => {
  const res = await runCli(['start', '--mqtt-port', '0', '--ws-port', 'off', '--http-port', 'off', '--bridge-rule', 'sensors/#=bad/name'])
  assert.equal(res.code, 2)
  assert.match(res.stderr, /invalid stream name "bad\/name"; stream names are 1-128 characters/)
})

test('bytes appended to the tail by hand are truncated at the next start, with a log line', async () => {
  let broker = await startBroker({ args: RULES })
  const client = await connect(broker.mqttUrl)
  for (let i = 0; i < 10; i++) await client.publishAsync('sensors/x', `m${i}`, { qos: 1 })
  await client.endAsync()
  await broker.stop()
  const dir = join(broker.dataDir, 'log', 'telemetry')
  const last = (await readdir(dir)).filter(n => n.endsWith('.log')).sort().pop() as string
  await appendFile(join(dir, last), Buffer.from('garbage after a crash'))
  broker = await startBroker({ args: RULES, dataDir: broker.dataDir })
  try {
    const line = broker.logs.find(l => typeof l.msg === 'string' && l.msg.includes('truncated'))
    assert.ok(line, 'a log line about the truncation')
    assert.equal(line.bytes, 21)
    assert.match(String(line.msg), /truncated 21 bytes of torn or corrupt tail/)
    const again = await connect(broker.mqttUrl)
    await again.publishAsync('sensors/x', 'after', { qos: 1 })
    await again.endAsync()
    const out = (await runCli(['log', 'tail', 'telemetry', '--data-dir', broker.dataDir, '--format', 'text'])).stdout.trim().split('\n')
    assert.equal(out.length, 11)
    assert.match(out[10], /^10 \S+ sensors\/x after$/)
  } finally {
    await broker.stop()
  }
})

test('small segments and size retention: the API reads across segments and from the oldest kept', async () => {
  const broker = await startBroker({ args: [...RULES, '--bridge-segment-size', '8KiB', '--bridge-retention-size', '32KiB'] })
  try {
    const client = await connect(broker.mqttUrl)
    const payload = 'p'.repeat(200)
    await Promise.all(Array.from({ length: 600 }, (_, i) => client.publishAsync('sensors/r', `${i} ${payload}`, { qos: 1 })))
    await client.endAsync()
    const info = await (await fetch(`${broker.httpUrl}/api/streams/telemetry`)).json() as { firstOffset: number, nextOffset: number, bytes: number }
    assert.equal(info.nextOffset, 600)
    assert.ok(info.firstOffset > 0, 'old segments were deleted')
    assert.ok(info.bytes <= 32 * 1024 + 8 * 1024, `bytes ${info.bytes}`)
    const text = await (await fetch(`${broker.httpUrl}/api/streams/telemetry/records?from=0&limit=100000`)).text()
    const offsets = text.trim().split('\n').map(l => (JSON.parse(l) as { offset: number }).offset)
    assert.equal(offsets[0], info.firstOffset)
    assert.deepEqual(offsets, Array.from({ length: 600 - info.firstOffset }, (_, i) => info.firstOffset + i))
  } finally {
    await broker.stop()
  }
})

test('a consumer group resumes where it committed after the consumer restarts (CLI and HTTP)', async () => {
  const broker = await startBroker({ args: RULES })
  try {
    const client = await connect(broker.mqttUrl)
    for (let i = 0; i < 8; i++) await client.publishAsync('sensors/g', `r${i}`, { qos: 1 })
    await client.endAsync()
    const groups = async (): Promise<unknown> => await (await fetch(`${broker.httpUrl}/api/streams/telemetry/groups`)).json()
    assert.deepEqual(await groups(), { stream: 'telemetry', nextOffset: 8, groups: [] }, 'no group committed yet')
    const tail = async (...extra: string[]): Promise<string[]> =>
      (await runCli(['log', 'tail', 'telemetry', '--group', 'billing', '--format', 'text', '--limit', '3', ...extra])).stdout.trim().split('\n').map(l => l.split(' ')[3])
    assert.deepEqual(await tail('--data-dir', broker.dataDir), ['r0', 'r1', 'r2'])
    assert.deepEqual(await tail('--data-dir', broker.dataDir), ['r3', 'r4', 'r5'])
    // the same group through the broker's API sees the committed position
    const position = await (await fetch(`${broker.httpUrl}/api/streams/telemetry/groups/billing`)).json() as { offset: number }
    assert.equal(position.offset, 6)
    assert.deepEqual(await tail('--url', broker.httpUrl), ['r6', 'r7'])
    const commit = await fetch(`${broker.httpUrl}/api/streams/telemetry/groups/billing`, { method: 'POST', body: JSON.stringify({ offset: 1 }) })
    assert.equal(commit.status, 200)
    assert.equal((await fetch(`${broker.httpUrl}/api/streams/telemetry/groups/archive`, { method: 'POST', body: JSON.stringify({ offset: 8 }) })).status, 200)
    // The list of the stream's groups (segment files: one file per group), by name, with their lag.
    const listed = await groups() as { groups: Array<{ group: string, offset: number, lag: number, committedAt: string }> }
    assert.deepEqual(listed.groups.map(g => [g.group, g.offset, g.lag]), [['archive', 8, 0], ['billing', 1, 7]])
    assert.ok(listed.groups.every(g => Number.isFinite(Date.parse(g.committedAt))))
    assert.deepEqual(await tail('--data-dir', broker.dataDir), ['r1', 'r2', 'r3'])
  } finally {
    await broker.stop()
  }
})

test('the stream API is refused to remote clients when no admin token is set', async () => {
  const broker = await startBroker({ args: [...RULES, '--host', '0.0.0.0'] })
  try {
    const res = await fetch(`${broker.httpUrl.replace('0.0.0.0', '127.0.0.1')}/api/streams`)
    assert.equal(res.status, 403)
  } finally {
    await broker.stop()
  }
})


test('with --admin-token the stream API wants the bearer token (the CLI sends it with --token)', async () => {
  const broker = await startBroker({ args: [...RULES, '--admin-token', 's3cret-token'] })
  try {
    assert.equal((await fetch(`${broker.httpUrl}/api/streams`)).status, 401)
    assert.equal((await fetch(`${broker.httpUrl}/api/streams/telemetry/records`, { headers: { authorization: 'Bearer nope' } })).status, 401)
    assert.equal((await fetch(`${broker.httpUrl}/api/streams`, { headers: { authorization: 'Bearer s3cret-token' } })).status, 200)
    const client = await connect(broker.mqttUrl)
    await client.publishAsync('sensors/t', 'tok', { qos: 1 })
    await client.endAsync()
    const out = await runCli(['log', 'tail', 'telemetry', '--url', broker.httpUrl, '--token', 's3cret-token', '--format', 'text'])
    assert.match(out.stdout, /^0 \S+ sensors\/t tok\n$/, out.stderr)
    const refused = await runCli(['log', 'tail', 'telemetry', '--url', broker.httpUrl])
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /401/)
  } finally {
    await broker.stop()
  }
})

