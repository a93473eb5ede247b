// A shared group whose members come and go while a publisher streams: four QoS 1 members, each an
// OS process of its own (test/helpers/member-child.ts), one leaving cleanly, one killed with
// kill -9 mid-stream and coming back with its persistent session, one joining late. Every
// message the publisher got a PUBACK for reaches a member; a message is received twice only if
// the killed member had it before its kill (it could not acknowledge it, MQTT-4.3.2).
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { twoNodesForFile } from '../helpers/cluster.js'
import { spawnMember, type MemberProcess } from '../helpers/member-process.js'
import { connect, publishStream, type MqttClient } from '../helpers/mqtt.js'
import { needRedis } from '../helpers/redis.js'
import { waitFor } from '../helpers/system.js'

const FILTER = '$share/w/churn/#'
const COUNT = 2000
const message = /^c\d+$/

const skipRedis = needRedis()
const cluster = twoNodesForFile(skipRedis)

/** Streams COUNT messages while the group churns, then checks loss and duplicates. `nodes`: the members' nodes, in turn. */
async function churn (t: TestContext, nodes: BrokerProcess[], tag: string): Promise<void> {
  const on = (i: number): string => nodes[i % nodes.length].mqttUrl
  const member = (i: number, clientId: string, clean: boolean, deferred = false): MemberProcess =>
    spawnMember({ url: on(i), clientId: `${tag}-${clientId}`, clean, filter: FILTER, deferred })
  const leaver = member(0, 'leaver', true)
  const crashing = member(1, 'crashing', false)
  const steady = member(2, 'steady', true)
  const persistent = member(3, 'persistent', false)
  // Loaded already, so that they join at the moment chosen, not a process start later.
  const late = member(0, 'late', true, true)
  const back = member(1, 'crashing', false, true)
  const pub: MqttClient = await connect(nodes[0].mqttUrl)
  try {
    await Promise.all([...[leaver, crashing, steady, persistent].map(m => m.ready), late.loaded, back.loaded])
    // The last quarter waits until every step is done: they all happen while messages stream.
    let churned = (): void => {}
    const churnDone = new Promise<void>(resolve => { churned = resolve })
    const stream = publishStream(pub, n => `churn/${n % 10}`, COUNT, 20, 'c', n => n >= COUNT * 0.75 ? churnDone : undefined)
    // Each step waits for a number of PUBACKs; what the count was once it was done goes in the diagnostic.
    const steps: string[] = []
    const step = async (acked: number, name: string, action: () => Promise<void>): Promise<void> => {
      await waitFor(() => stream.acked.size >= acked, 20_000, `${acked} messages acknowledged`)
      await action()
      steps.push(`${name}@${stream.acked.size}`)
    }
    await step(150, 'late joined', late.join)
    await step(400, 'left', leaver.leave)
    await step(600, 'killed', crashing.kill)
    await step(700, 'back', back.join)
    churned()
    await stream.done
    assert.equal(stream.acked.size, COUNT, 'the publisher got every PUBACK')
    const members = [leaver, crashing, steady, persistent, late, back]
    const received = (): string[] => members.flatMap(m => m.got.map(r => r.payload).filter(p => message.test(p)))
    await waitFor(() => { const got = new Set(received()); return [...stream.acked].every(p => got.has(p)) }, 15_000, 'every acknowledged message at a member')
    // A sentinel stream: each member still connected gets one after whatever was on its way to it.
    const live = [steady, persistent, late, back]
    for (let round = 0; !live.every(m => m.got.some(r => r.payload.startsWith('end'))); round++) {
      assert.ok(round < 20, 'a sentinel at every live member')
      for (let i = 0; i < live.length * 2; i++) await pub.publishAsync('churn/end', `end${round}-${i}`, { qos: 1 })
      await waitFor(() => members.flatMap(m => m.got).filter(r => r.payload.startsWith(`end${round}-`)).length === live.length * 2, 10_000, 'the sentinels')
    }
    const counts = new Map<string, number>()
    for (const p of received()) counts.set(p, (counts.get(p) ?? 0) + 1)
    const beforeKill = new Set(crashing.got.map(r => r.payload))
    const duplicates = [...counts].filter(([, n]) => n > 1)
    const unexplained = duplicates.filter(([p]) => !beforeKill.has(p))
    const redispatched = await redispatchedOn(nodes)
    const names = ['leaver', 'crashing', 'steady', 'persistent', 'late', 'back']
    t.diagnostic(`steps (at PUBACKs so far): ${steps.join(' ')}; received: ${members.map((m, i) => `${names[i]}=${m.got.filter(r => message.test(r.payload)).length}`).join(' ')}; ` +
      `redispatched by the broker: ${redispatched}; duplicates: ${duplicates.length} (all of them messages the killed member had before the kill: ${unexplained.length === 0})`)
    assert.deepEqual(unexplained, [], 'a duplicate only of a message the killed member could not acknowledge')
    assert.ok(members.every(m => m.got.some(r => message.test(r.payload))), 'each member, the late one and the one back too, took part')
    await Promise.all(live.map(m => m.leave()))
  } finally {
    await Promise.all([leaver, crashing, steady, persistent, late, back].map(m => m.kill()))
    await pub.endAsync()
  }
}

/** swallow_shared_redispatched_total of the group, summed over the nodes. */
async function redispatchedOn (nodes: BrokerProcess[]): Promise<number> {
  let sum = 0
  for (const node of nodes) {
    const metrics = await (await fetch(`${node.httpUrl}/metrics`)).text()
    sum += Number(/^swallow_shared_redispatched_total\{group="\$share\/w\/churn\/#"\} (\d+)$/m.exec(metrics)?.[1] ?? 0)
  }
  return sum
}

test('embedded storage: members leave, crash (kill -9), join late and come back while 2,000 QoS 1 messages stream; nothing acknowledged is lost', async (t) => {
  const broker = await startBroker()
  try {
    await churn(t, [broker], 'emb')
  } finally {
    await broker.stop()
  }
})

test('Redis storage, members on two nodes: the same churn, nothing acknowledged lost', { skip: skipRedis }, async (t) => {
  await churn(t, [cluster.a, cluster.b], 'rds')
})
