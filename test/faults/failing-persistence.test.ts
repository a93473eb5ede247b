// A storage error inside any packet handler fails that one client's operation, never the
// process (issue #20). The broker runs with test/helpers/fail-persistence.ts loaded, which
// makes the first call of one persistence method for the client "victim" fail. The victim
// walks through a session's life (CONNECT with a will, SUBSCRIBE, a delivery, a QoS 2
// PUBLISH, UNSUBSCRIBE, DISCONNECT, an offline message, a resume, a clean start), which
// reaches every such method. Meanwhile a bystander stream must be served in full, the process
// must stay up, and afterwards the victim's whole walk must succeed again.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { pathToFileURL, fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { connect, connectCollecting, publishStream, type MqttClient } from '../helpers/mqtt.js'
import { needRedis, startRedis } from '../helpers/redis.js'
import { waitFor } from '../helpers/system.js'
import { FAILURE_MESSAGE } from '../helpers/fail-persistence.js'

const FAIL_MODULE = pathToFileURL(fileURLToPath(new URL('../helpers/fail-persistence.js', import.meta.url))).href
const METHODS = [
  'subscriptionsByClient', 'addSubscriptions', 'putWill', 'outgoingEnqueueCombi', 'outgoingUpdate',
  'outgoingClearMessageId', 'incomingStorePacket', 'incomingGetPacket', 'incomingDelPacket',
  'removeSubscriptions', 'delWill', 'outgoingStream', 'cleanSubscriptions'
]
// Where the protocol goes on without the write and the cost is a repeat (a message sent again
// after a reconnect, a will published after a crash): the walk succeeds, the warning says so.
const GOES_ON = new Set(['outgoingUpdate', 'outgoingClearMessageId', 'delWill'])
const STEP_MS = 3000
const BYSTANDER_MESSAGES = 200

/** Resolves the step's result, or rejects when the connection closes or the step takes too long. */
function step<T> (name: string, client: MqttClient, run: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const closed = (): void => reject(new Error(`${name}: connection closed`))
    const timer = setTimeout(() => reject(new Error(`${name}: no answer in ${STEP_MS} ms`)), STEP_MS)
    client.once('close', closed)
    run().then(resolve, reject).finally(() => { clearTimeout(timer); client.off('close', closed) })
  })
}

const opts = (clean: boolean) => ({ clientId: 'victim', clean, reconnectPeriod: 0, will: { topic: 'v/will', payload: Buffer.from('gone'), qos: 1 as const, retain: false } })

/** The victim's session, start to end; throws at the first step that fails. */
async function walk (broker: BrokerProcess, feeder: MqttClient): Promise<void> {
  let victim = await connect(broker.mqttUrl, opts(false))
  const arrived = (payload: string): Promise<void> => new Promise(resolve => {
    const on = (_t: string, p: Buffer): void => { if (String(p) === payload) { victim.off('message', on); resolve() } }
    victim.on('message', on)
  })
  try {
    const granted = await step('subscribe', victim, async () => await victim.subscribeAsync('v/#', { qos: 1 }))
    if (granted[0]?.qos === 128) throw new Error('subscribe: refused')
    await step('delivery', victim, async () => { const got = arrived('live'); await feeder.publishAsync('v/x', 'live', { qos: 1 }); await got })
    await step('qos 2 publish', victim, async () => { const got = arrived('self'); await victim.publishAsync('v/self', 'self', { qos: 2 }); await got })
    await step('unsubscribe', victim, async () => await victim.unsubscribeAsync('v/#'))
    await step('subscribe again', victim, async () => await victim.subscribeAsync('v/#', { qos: 1 }))
    await victim.endAsync()
    await step('offline message', feeder, async () => await feeder.publishAsync('v/x', 'offline', { qos: 1 }))
    // Listening before the CONNACK: the queued message may follow it at once.
    victim = mqtt.connect(broker.mqttUrl, opts(false))
    const resumed = new Promise<void>((resolve, reject) => { victim.once('connect', () => resolve()); victim.once('error', reject) })
    await step('resume', victim, async () => { await Promise.all([resumed, arrived('offline')]) })
    await victim.endAsync()
    victim = await connect(broker.mqttUrl, opts(true))
    await victim.endAsync()
  } finally {
    victim.end(true)
  }
}

async function oneFailureCostsOneClient (broker: BrokerProcess, method: string): Promise<void> {
  const crashed = new Promise<never>((_resolve, reject) => broker.proc.once('exit', code =>
    reject(new Error(`the broker exited (${code}): ${JSON.stringify(broker.logs.filter(l => Number(l.level) >= 50))}`))))
  const { client: watcher, got } = await connectCollecting(broker.mqttUrl, { clientId: 'bystander-sub', clean: false })
  await watcher.subscribeAsync('b/#', { qos: 1 })
  const bystander = await connect(broker.mqttUrl, { clientId: 'bystander-pub' })
  const stream = publishStream(bystander, 'b/x', BYSTANDER_MESSAGES, 20)
  let feeder = await connect(broker.mqttUrl, { clientId: 'feeder', reconnectPeriod: 0 })
  const failed = await Promise.race([walk(broker, feeder).then(() => null, (err: Error) => err.message), crashed])
  if (GOES_ON.has(method)) assert.equal(failed, null, `the walk goes on without the ${method} write`)
  else assert.ok(failed !== null, `the ${method} failure showed in the walk`)
  await waitFor(() => broker.logs.some(l => JSON.stringify(l).includes(FAILURE_MESSAGE)), 5000, `the ${method} failure in the log`)
  if (method !== 'outgoingStream') { // a stream: read, not timed or counted by the storage wrapper
    const metrics = await (await fetch(`${broker.httpUrl}/metrics`)).text()
    assert.match(metrics, new RegExp(`swallow_storage_errors_total\\{op="${method}"\\} [1-9]`), 'counted in /metrics')
  }
  await Promise.race([stream.done, crashed])
  assert.equal(stream.acked.size, BYSTANDER_MESSAGES, 'the bystander publisher got every PUBACK')
  await waitFor(() => new Set(got.map(m => m.payload)).size === BYSTANDER_MESSAGES, 10_000, 'the bystander subscriber got every message')
  // The failure was one operation: the victim's whole walk succeeds now.
  if (!feeder.connected) feeder = await connect(broker.mqttUrl, { clientId: 'feeder', reconnectPeriod: 0 })
  await Promise.race([walk(broker, feeder), crashed])
  assert.equal(broker.proc.exitCode, null, 'the broker process is still running')
  assert.ok(!broker.logs.some(l => l.msg === 'uncaught exception; exiting'), 'no uncaught exception')
  await Promise.all([watcher.endAsync(), bystander.endAsync(), feeder.endAsync()])
}

const env = (method: string): Record<string, string> => ({ NODE_OPTIONS: `--import ${FAIL_MODULE}`, FAIL_PERSISTENCE: `${method}@victim` })

async function eachMethod (t: TestContext, storage: 'embedded' | 'memory' | 'redis'): Promise<void> {
  const redis = storage === 'redis' ? await startRedis() : null
  try {
    for (const [i, method] of METHODS.entries()) {
      await t.test(method, async () => {
        // Redis: a database of its own per method (16 in a default redis-server), no state carried over.
        const redisUrl = redis?.url.replace(/\/0$/, `/${i + 1}`)
        const broker = await startBroker({ storage, redisUrl, env: env(method) })
        try {
          await oneFailureCostsOneClient(broker, method)
        } finally {
          await broker.stop()
        }
      })
    }
  } finally {
    await redis?.stop()
  }
}

// The three storages side by side: each runs its methods one after another.
test('a failing persistence call costs one client\'s operation, not the broker', { concurrency: true }, async t => {
  await Promise.all([
    t.test('embedded storage', t => eachMethod(t, 'embedded')),
    t.test('memory storage', t => eachMethod(t, 'memory')),
    t.test('redis storage', { skip: needRedis() }, t => eachMethod(t, 'redis'))
  ])
})
