// Shared subscriptions and $SYS, against a real broker: the per-group figures a $SYS
// subscriber reads (and /metrics), and a shared subscription to a $SYS filter
// ($share/g/$SYS/#: the $ rule of MQTT-4.7.2-1 is about the inner filter).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { collect, connect, connect5, type MqttClient, type Received } from '../helpers/mqtt.js'
import { needBinary, run, waitFor } from '../helpers/system.js'

async function member (url: string, filter: string, clientId: string): Promise<{ client: MqttClient, got: Received[] }> {
  const client = await connect5(url, { clientId })
  const got = collect(client)
  await client.subscribeAsync(filter, { qos: 1 })
  return { client, got }
}

/** The latest payload of each topic a client received. */
function latest (got: Received[]): Map<string, string> {
  return new Map(got.map(r => [r.topic, r.payload]))
}

describe('shared groups in $SYS', () => {
  let broker: BrokerProcess
  before(async () => { broker = await startBroker({ storage: 'memory', args: ['--sys-interval', '200ms'] }) })
  after(async () => { await broker.stop() })

  test('a $SYS subscriber sees each group\'s members, backlog and deliveries, and per filter and member in one JSON body; /metrics counts deliveries per group; a gone group\'s topics are cleared', async () => {
    const watcher = await connect(broker.mqttUrl)
    const seen = collect(watcher)
    await watcher.subscribeAsync('$SYS/broker/shared/#', { qos: 0 })
    const workers = [await member(broker.mqttUrl, '$share/jobs/work/#', 'w1'), await member(broker.mqttUrl, '$share/jobs/work/#', 'w2'), await member(broker.mqttUrl, '$share/jobs/work/#', 'w3')]
    const other = await member(broker.mqttUrl, '$share/jobs/other/+', 'o1')
    const pub = await connect(broker.mqttUrl)
    for (let i = 0; i < 30; i++) await pub.publishAsync('work/a', `w${i}`, { qos: 1 })
    for (let i = 0; i < 4; i++) await pub.publishAsync('other/x', `o${i}`, { qos: 1 })
    await waitFor(() => latest(seen).get('$SYS/broker/shared/jobs/delivered') === '34', 5000, '$SYS/broker/shared/jobs/delivered 34')
    const now = latest(seen)
    assert.equal(now.get('$SYS/broker/shared/jobs/members'), '4')
    assert.equal(now.get('$SYS/broker/shared/jobs/backlog'), '0')
    const filters = JSON.parse(now.get('$SYS/broker/shared/jobs/filters') ?? '[]') as Array<Record<string, unknown>>
    assert.deepEqual(filters.sort((a, b) => String(a.filter).localeCompare(String(b.filter))), [
      { filter: 'other/+', members: 1, offline: 0, backlog: 0, delivered: 4, redispatched: 0, perMember: { o1: 4 } },
      { filter: 'work/#', members: 3, offline: 0, backlog: 0, delivered: 30, redispatched: 0, perMember: { w1: 10, w2: 10, w3: 10 } }
    ])
    const metrics = await (await fetch(`${broker.httpUrl}/metrics`)).text()
    assert.match(metrics, /swallow_shared_deliveries_total\{group="\$share\/jobs\/work\/#"\} 30/)
    assert.match(metrics, /swallow_shared_deliveries_total\{group="\$share\/jobs\/other\/\+"\} 4/)
    // Every member gone: the group ends, its retained $SYS topics are cleared (empty payload).
    await Promise.all([...workers, other].map(m => m.client.endAsync()))
    await waitFor(() => latest(seen).get('$SYS/broker/shared/jobs/members') === '', 5000, 'the gone group\'s topics cleared')
    const late = await connect(broker.mqttUrl)
    const retained = collect(late)
    await late.subscribeAsync('$SYS/broker/#', { qos: 0 })
    await waitFor(() => retained.some(r => r.topic === '$SYS/broker/uptime'), 5000, 'the other $SYS topics')
    assert.ok(!retained.some(r => r.topic.startsWith('$SYS/broker/shared/') && r.retain), 'no retained figures of a gone group')
    await Promise.all([watcher.endAsync(), pub.endAsync(), late.endAsync()])
  })

  test('$share/g/$SYS/#: a shared subscription to a $SYS filter gets the $SYS messages, shared by its members; $share/g/# gets none', async () => {
    const sys = [await member(broker.mqttUrl, '$share/sysg/$SYS/#', 's1'), await member(broker.mqttUrl, '$share/sysg/$SYS/#', 's2')]
    const exact = await member(broker.mqttUrl, '$share/up/$SYS/broker/uptime', 'u1')
    const wild = await member(broker.mqttUrl, '$share/wild/#', 'x1')
    const uptimes = (): Received[] => sys.flatMap(m => m.got).filter(r => r.topic === '$SYS/broker/uptime')
    await waitFor(() => uptimes().length >= 3 && exact.got.length >= 3, 5000, 'three $SYS updates through the shared subscriptions')
    assert.ok(sys.every(m => m.got.every(r => r.topic.startsWith('$SYS/'))))
    assert.ok(exact.got.every(r => r.topic === '$SYS/broker/uptime'))
    assert.ok(sys.every(m => m.got.length > 0), 'the members of sysg share them')
    // The wildcard group: $SYS updates were published meanwhile; a sentinel proves none came.
    const pub = await connect(broker.mqttUrl)
    await pub.publishAsync('s/sentinel', 'x', { qos: 1 })
    await waitFor(() => wild.got.some(r => r.topic === 's/sentinel'), 5000, 'the sentinel')
    assert.deepEqual(wild.got.map(r => r.topic), ['s/sentinel'])
    await Promise.all([...sys, exact, wild].map(m => m.client.endAsync()).concat(pub.endAsync()))
  })

  test('mosquitto_sub with $share/g/$SYS/broker/uptime gets the uptime', { skip: needBinary('mosquitto_sub', 'mosquitto-clients') }, async () => {
    const out = await run('mosquitto_sub', ['-p', String(broker.mqttPort), '-V', 'mqttv5', '-t', '$share/msq/$SYS/broker/uptime', '-v', '-C', '1', '-W', '5'])
    assert.match(out.stdout, /^\$SYS\/broker\/uptime \d+ seconds$/m)
  })
})
