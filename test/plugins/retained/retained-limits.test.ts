// Limits and expiry: over a limit a message is delivered but not retained (one log line,
// a counter); expired messages are not delivered and are swept in the background.
import { test } from 'node:test'
import { writeFileSync } from 'node:fs'
import assert from 'node:assert/strict'
import { retainedFor } from './retained-helpers.js'
import { startBroker } from '../../helpers/broker.js'
import { collect, connect, type Received } from '../../helpers/mqtt.js'
import { sleep, tempDir, waitFor } from '../../helpers/system.js'

async function metric (httpUrl: string, line: string): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text()
  const found = text.split('\n').find(l => l.startsWith(line + ' '))
  return found === undefined ? 0 : Number(found.slice(line.length + 1))
}

test('over --retained-max-messages and --retained-max-payload a message is delivered but not retained, logged once, counted', async () => {
  const broker = await startBroker({ args: ['--sys-interval', 'off', '--retained-max-messages', '3', '--retained-max-payload', '10B'] })
  try {
    const live = await connect(broker.mqttUrl)
    const liveGot = collect(live)
    await live.subscribeAsync('#', { qos: 1 })
    const pub = await connect(broker.mqttUrl)
    for (let i = 0; i < 6; i++) await pub.publishAsync(`n/${i}`, `v${i}`, { qos: 1, retain: true })
    await pub.publishAsync('n/0', 'replaced', { qos: 1, retain: true }) // replacing is fine when full
    await pub.publishAsync('n/1', 'this payload is too big', { qos: 1, retain: true }) // clears n/1
    await pub.publishAsync('n/2', 'x'.repeat(11), { qos: 0, retain: true })
    await waitFor(() => liveGot.length === 9, 3000, 'every message delivered live')
    assert.ok(pub.connected, 'the publisher is never disconnected for a limit')
    await pub.endAsync()
    await live.endAsync()

    const got = await retainedFor(broker.mqttUrl, '#', 300, false)
    assert.deepEqual(got.map(m => `${m.topic}=${m.payload}`).sort(), ['n/0=replaced'])
    assert.equal(await metric(broker.httpUrl, 'swallow_retained_refused_total{reason="max_messages"}'), 3)
    assert.equal(await metric(broker.httpUrl, 'swallow_retained_refused_total{reason="max_payload"}'), 2)
    const warnings = broker.logs.filter(l => l.level === 40 && l.plugin === 'retained')
    assert.equal(warnings.filter(l => String(l.msg).includes('--retained-max-messages')).length, 1, 'one line per episode')
    assert.equal(warnings.filter(l => String(l.msg).includes('--retained-max-payload')).length, 1, 'one line per episode')
  } finally {
    await broker.stop()
  }
})

test('an expired retained message is not delivered, is swept, and other topics keep theirs', async () => {
  const broker = await startBroker({ args: ['--sys-interval', 'off', '--retained-expiry', 'dev/+/status=1s', '--retained-expiry', 'dev/#=1h'] })
  try {
    const pub = await connect(broker.mqttUrl)
    await pub.publishAsync('dev/1/status', 'online', { qos: 1, retain: true })
    await pub.publishAsync('dev/1/config', 'cfg', { qos: 1, retain: true })
    await pub.publishAsync('other/x', 'keep', { qos: 1, retain: true })
    assert.equal((await retainedFor(broker.mqttUrl, '#', 300, false)).length, 3, 'before expiry')
    const listed = await (await fetch(`${broker.httpUrl}/api/retained?filter=dev/%23`)).json() as { items: Array<{ topic: string, expiresAt: string | null }> }
    assert.ok(listed.items.every(i => i.expiresAt !== null), 'first matching rule gives the lifetime')
    await sleep(1300)
    assert.deepEqual((await retainedFor(broker.mqttUrl, '#', 300, false)).map(m => m.topic).sort(), ['dev/1/config', 'other/x'])
    await waitFor(async () => await metric(broker.httpUrl, 'swallow_retained_expired_total') === 1, 3000, 'the sweep')
    assert.equal(await metric(broker.httpUrl, 'swallow_retained_messages'), 2)
    // Publishing again restarts the lifetime.
    await pub.publishAsync('dev/1/status', 'back', { qos: 1, retain: true })
    assert.deepEqual((await retainedFor(broker.mqttUrl, 'dev/1/status', 300, false)).map(m => m.payload), ['back'])
    await pub.endAsync()
  } finally {
    await broker.stop()
  }
})

test('a message that expired while the broker was down is not delivered after the restart, and is swept', async () => {
  const dir = tempDir()
  const args = ['--sys-interval', 'off', '--retained-expiry', 'tmp/#=1s']
  try {
    let broker = await startBroker({ dataDir: dir.path, args })
    const pub = await connect(broker.mqttUrl)
    await pub.publishAsync('tmp/a', 'short-lived', { qos: 1, retain: true })
    await pub.publishAsync('keep/a', 'kept', { qos: 1, retain: true })
    await pub.endAsync()
    await broker.stop()
    await sleep(1100)
    broker = await startBroker({ dataDir: dir.path, args })
    assert.deepEqual((await retainedFor(broker.mqttUrl, '#', 300, false)).map(m => m.topic), ['keep/a'])
    await waitFor(async () => await metric(broker.httpUrl, 'swallow_retained_messages') === 1, 3000, 'the sweep after restart')
    await broker.stop()
  } finally {
    dir.remove()
  }
})

test('expiry rules and limits from the config file, where a rule may be an object', async () => {
  const dir = tempDir()
  try {
    const file = `${dir.path}/swallow.json`
    writeFileSync(file, JSON.stringify({ retained: { expiry: [{ filter: 'cfg/#', ttl: '1h' }, 'tmp/+=5m'], maxMessages: 100 } }))
    const broker = await startBroker({ args: ['--sys-interval', 'off', '--config', file] })
    try {
      const pub = await connect(broker.mqttUrl)
      await pub.publishAsync('cfg/a', 'x', { qos: 1, retain: true })
      await pub.publishAsync('tmp/b', 'y', { qos: 1, retain: true })
      await pub.endAsync()
      const { items } = await (await fetch(`${broker.httpUrl}/api/retained`)).json() as { items: Array<{ topic: string, storedAt: string, expiresAt: string }> }
      const ttl = Object.fromEntries(items.map(i => [i.topic, Date.parse(i.expiresAt) - Date.parse(i.storedAt)]))
      assert.deepEqual(ttl, { 'cfg/a': 3_600_000, 'tmp/b': 300_000 })
    } finally {
      await broker.stop()
    }
  } finally {
    dir.remove()
  }
})

test('a bad --retained-expiry rule is refused at start with a message naming it', async () => {
  await assert.rejects(startBroker({ args: ['--retained-expiry', 'dev/#/x=1h'] }), /--retained-expiry: invalid rule "dev\/#\/x=1h": # must be a whole level, and the last one/)
  await assert.rejects(startBroker({ args: ['--retained-expiry', 'dev/+=soon'] }), /--retained-expiry/)
})

test('the broker\'s own retained $SYS topics do not count against --retained-max-messages', async () => {
  const broker = await startBroker({ args: ['--sys-interval', '100ms', '--retained-max-messages', '2'] })
  try {
    // Wait until $SYS topics are retained, so they would fill the store if they counted.
    await waitFor(async () => (await retainedFor(broker.mqttUrl, '$SYS/#', 300, false)).length >= 2, 5000, 'retained $SYS topics')
    const pub = await connect(broker.mqttUrl)
    for (const topic of ['u/1', 'u/2', 'u/3']) await pub.publishAsync(topic, topic, { qos: 1, retain: true })
    await pub.endAsync()
    const got = await retainedFor(broker.mqttUrl, 'u/#', 300, false)
    assert.deepEqual(got.map(m => m.topic).sort(), ['u/1', 'u/2'], 'two user topics fit; the third is over the limit')
  } finally {
    await broker.stop()
  }
})
