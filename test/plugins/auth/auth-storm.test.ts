// A reconnect storm against password-file users hashed with the default (strong) PBKDF2
// iteration count: the event loop stays responsive while the cold verifications run, and
// the cache makes the next storm cheap. Prints the figures as test diagnostics.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker, type BrokerProcess } from '../../helpers/broker.js'
import { connect, type MqttClient } from '../../helpers/mqtt.js'
import { DEFAULT_ITERATIONS, hashPassword } from '../../../plugins/auth/password-hash.js'
import { parsePasswordFile } from '../../../plugins/auth/password-file.js'
import { PasswordVerifier } from '../../../plugins/auth/verifier.js'
import { connack, files } from './auth-helpers.js'

const USERS = 16
let broker: BrokerProcess
let probe: MqttClient
let passwd = ''

before(async () => {
  const users = Array.from({ length: USERS }, (_, i) => `dev${i}`)
  passwd = (await Promise.all(users.map(async u => `${u}:${await hashPassword(u + '-pw')}`))).join('\n') + '\n'
  users.push('probe')
  const f = files({ passwd: passwd + `probe:${await hashPassword('probe-pw', 1000)}\n` })
  broker = await startBroker({ storage: 'memory', args: ['--password-file', f.path('passwd'), '--auth-max-failures', '0'] })
  probe = await connect(broker.mqttUrl, { username: 'probe', password: 'probe-pw' })
})
after(async () => {
  probe.end(true)
  await broker.stop()
})

/** Runs `count` CONNECTs, at most `parallel` at a time; resolves elapsed ms. */
async function storm (count: number, parallel: number, user: (i: number) => string): Promise<number> {
  const started = Date.now()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++
      const code = await connack(broker.mqttPort, { username: user(i), password: user(i) + '-pw' }, 60_000)
      assert.equal(code, 0)
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker))
  return Date.now() - started
}

/** Publishes QoS 1 round trips on the probe while `work` runs; resolves the worst RTT. */
async function worstRoundTrip (work: Promise<unknown>): Promise<number> {
  let done = false
  let worst = 0
  work.then(() => { done = true }, () => { done = true })
  while (!done) {
    const t = Date.now()
    await probe.publishAsync('probe', 'x', { qos: 1 })
    worst = Math.max(worst, Date.now() - t)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  await work
  return worst
}

test(`PBKDF2 verifications per second at ${DEFAULT_ITERATIONS} iterations`, async (t) => {
  const entry = parsePasswordFile(passwd, 'pw').get('dev0')
  assert.ok(entry)
  const v = new PasswordVerifier({ cacheTtlMs: 0, maxCacheEntries: 1, concurrency: 2, maxPending: 1000 })
  const n = 10
  const started = Date.now()
  await Promise.all(Array.from({ length: n }, () => v.verify('dev0', entry, Buffer.from('dev0-pw'))))
  const perSecond = n / ((Date.now() - started) / 1000)
  t.diagnostic(`cold verifications: ${perSecond.toFixed(1)}/s (concurrency 2, ${DEFAULT_ITERATIONS} iterations)`)
  const cached = new PasswordVerifier({ cacheTtlMs: 60_000, maxCacheEntries: 10, concurrency: 2, maxPending: 1000 })
  await cached.verify('dev0', entry, Buffer.from('dev0-pw'))
  const warmStart = process.hrtime.bigint()
  for (let i = 0; i < 10_000; i++) await cached.verify('dev0', entry, Buffer.from('dev0-pw'))
  const warmPerSecond = 10_000 / (Number(process.hrtime.bigint() - warmStart) / 1e9)
  t.diagnostic(`cached verifications: ${Math.round(warmPerSecond)}/s`)
  assert.ok(warmPerSecond > perSecond * 100)
})

test('a cold storm keeps the broker responsive; the next storm is served from the cache', async (t) => {
  const cold = storm(USERS, USERS, i => `dev${i}`)
  const worstCold = await worstRoundTrip(cold)
  const coldMs = await cold
  const warmMs = await storm(USERS, USERS, i => `dev${i}`)
  const big = 2000
  const bigStorm = storm(big, 100, i => `dev${i % USERS}`)
  const worstWarm = await worstRoundTrip(bigStorm)
  const bigMs = await bigStorm
  t.diagnostic(`cold storm: ${USERS} CONNECTs in ${coldMs} ms (worst QoS 1 round trip meanwhile ${worstCold} ms)`)
  t.diagnostic(`warm storm: ${USERS} CONNECTs in ${warmMs} ms`)
  t.diagnostic(`warm storm: ${big} CONNECTs in ${bigMs} ms = ${Math.round(big / (bigMs / 1000))}/s (worst QoS 1 round trip ${worstWarm} ms)`)
  assert.ok(warmMs < coldMs, `warm ${warmMs} ms vs cold ${coldMs} ms`)
  assert.ok(worstCold < 1000, `event loop stalled: ${worstCold} ms round trip during the cold storm`)
})
