// Password-file identities against a real broker: Mosquitto's own files accepted as-is,
// the right CONNACK code for each refusal, anonymous rules, bad input, brute-force guard.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker, type BrokerProcess } from '../../helpers/broker.js'
import { connect, run } from '../../helpers/mqtt.js'
import { needBinary, sleep, waitFor } from '../../helpers/system.js'
import { connack, connackForBytes, files, metric, rawConnect } from './auth-helpers.js'

const skip = needBinary('mosquitto_passwd', 'mosquitto')

/** A password file written by Debian's mosquitto_passwd: alice ($7$), bob ($6$ via -H sha512). */
async function mosquittoFile (): Promise<string> {
  const f = files({})
  const file = f.path('passwd')
  assert.equal((await run('mosquitto_passwd', ['-c', '-b', file, 'alice', 'secret'])).code, 0)
  assert.equal((await run('mosquitto_passwd', ['-H', 'sha512', '-b', file, 'bob', 'hunter2'])).code, 0)
  return file
}

describe('a password file written by mosquitto_passwd', { skip }, () => {
  let broker: BrokerProcess
  before(async () => {
    broker = await startBroker({ storage: 'memory', args: ['--password-file', await mosquittoFile(), '--auth-max-failures', '0'] })
  })
  after(async () => { await broker.stop() })

  test('accepts its $7$ and $6$ users with the right password', async () => {
    assert.equal(await connack(broker.mqttPort, { username: 'alice', password: 'secret' }), 0)
    assert.equal(await connack(broker.mqttPort, { username: 'bob', password: 'hunter2' }), 0)
    const pub = await run('mosquitto_pub', ['-p', String(broker.mqttPort), '-u', 'alice', '-P', 'secret', '-t', 't', '-m', 'x', '-q', '1'])
    assert.equal(pub.code, 0, pub.stderr)
  })

  test('refuses a wrong password or unknown user with CONNACK 4 and anonymous clients with 5', async () => {
    assert.equal(await connack(broker.mqttPort, { username: 'alice', password: 'Secret' }), 4)
    assert.equal(await connack(broker.mqttPort, { username: 'bob', password: 'secret' }), 4)
    assert.equal(await connack(broker.mqttPort, { username: 'mallory', password: 'secret' }), 4)
    assert.equal(await connack(broker.mqttPort, { username: 'alice' }), 4)
    assert.equal(await connack(broker.mqttPort, {}), 5)
    const anon = await run('mosquitto_pub', ['-p', String(broker.mqttPort), '-t', 't', '-m', 'x'])
    assert.notEqual(anon.code, 0)
    assert.match(anon.stderr, /not authori[sz]ed/i)
  })

  test('applies to MQTT over WebSocket too', async () => {
    const ok = await connect(broker.wsUrl, { username: 'alice', password: 'secret' })
    ok.end(true)
    await assert.rejects(connect(broker.wsUrl, { username: 'alice', password: 'wrong' }), (err: Error & { code?: number }) => err.code === 4)
    await assert.rejects(connect(broker.wsUrl, {}), (err: Error & { code?: number }) => err.code === 5)
  })

  test('bad input is refused with a CONNACK or a close, never a crash', async () => {
    const port = broker.mqttPort
    assert.equal(await connack(port, { username: '', password: 'secret' }), 4, 'empty username')
    assert.equal(await connack(port, { username: 'alice', password: Buffer.alloc(65535, 0x61) }), 4, '64 KiB password')
    assert.equal(await connack(port, { username: 'alice', password: Buffer.from([0, 0xff, 0xfe, 0x80]) }), 4, 'binary password')
    assert.equal(await connack(port, { username: 'a'.repeat(65535), password: 'x' }), 4, '64 KiB username')
    // MQTT-1.5.3-2: U+0000 in a string closes the connection (the core checks); else CONNACK 4.
    const nul = await connack(port, { username: 'alice\u0000', password: 'secret' })
    assert.ok(nul === 4 || nul === 'closed', `NUL in username: ${nul}`)
    const invalidUtf8 = await connackForBytes(port, rawConnect(Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('secret')))
    assert.ok(invalidUtf8 === 4 || invalidUtf8 === 'closed', `invalid UTF-8 username: ${invalidUtf8}`)
    const junk = await connackForBytes(port, Buffer.from([0x10, 0x7f, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0xff, 0xff]))
    assert.ok(junk === 'closed' || typeof junk === 'number')
    // The broker still serves.
    assert.equal(await connack(port, { username: 'alice', password: 'secret' }), 0)
    assert.equal(broker.proc.exitCode, null)
  })
})

describe('--allow-anonymous with a password file', { skip }, () => {
  let broker: BrokerProcess
  before(async () => {
    broker = await startBroker({ storage: 'memory', args: ['--password-file', await mosquittoFile(), '--allow-anonymous'] })
  })
  after(async () => { await broker.stop() })

  test('lets anonymous clients in, but a wrong password is still refused', async () => {
    assert.equal(await connack(broker.mqttPort, {}), 0)
    assert.equal(await connack(broker.mqttPort, { username: 'alice', password: 'secret' }), 0)
    assert.equal(await connack(broker.mqttPort, { username: 'alice', password: 'nope' }), 4)
  })
})

describe('the brute-force guard', { skip }, () => {
  let broker: BrokerProcess
  before(async () => {
    broker = await startBroker({
      storage: 'memory',
      args: ['--password-file', await mosquittoFile(), '--auth-max-failures', '3', '--auth-failure-window', '10s', '--auth-lockout', '1500ms']
    })
  })
  after(async () => { await broker.stop() })

  test('locks a username out from an address after N failures (CONNACK 5, MQTT 5: 0x8A banned, even with the right password) and lets it back after the cool-down; other users of that address are not affected', async () => {
    for (let i = 0; i < 3; i++) assert.equal(await connack(broker.mqttPort, { username: 'alice', password: 'guess' + i }), 4)
    const started = Date.now()
    assert.equal(await connack(broker.mqttPort, { username: 'alice', password: 'secret' }), 5)
    assert.equal(await connack(broker.mqttPort, { username: 'alice', password: 'secret', protocolVersion: 5 }), 0x8a)
    assert.equal(await connack(broker.mqttPort, { username: 'bob', password: 'hunter2' }), 0, 'bob, from the same address, still gets in')
    const warning = broker.logs.find(l => l.level === 40 && /too many failed logins/.test(String(l.msg)))
    assert.equal(warning?.username, 'alice')
    assert.ok(Date.now() - started < 1000)
    assert.equal(await metric(broker.httpUrl, 'swallow_auth_lockouts_total'), 1)
    assert.ok(await metric(broker.httpUrl, 'swallow_auth_connects_total', '{result="locked_out"}') >= 1)
    await sleep(1600)
    assert.equal(await connack(broker.mqttPort, { username: 'alice', password: 'secret' }), 0)
    const client = await connect(broker.mqttUrl, { username: 'bob', password: 'hunter2' })
    client.end(true)
  })
})

describe('the brute-force guard per username, across addresses', { skip }, () => {
  let broker: BrokerProcess
  before(async () => {
    broker = await startBroker({
      storage: 'memory',
      args: ['--password-file', await mosquittoFile(), '--auth-max-failures', '0', '--auth-max-failures-per-user', '3', '--auth-failure-window', '10s', '--auth-lockout', '60s']
    })
  })
  after(async () => { await broker.stop() })

  test('guesses at one username from many addresses lock it out everywhere except where it logged in before; other users are not affected', async () => {
    const from = (n: number): string => `127.0.0.${n}`
    assert.equal(await connack(broker.mqttPort, { username: 'alice', password: 'secret', localAddress: from(2) }), 0, 'alice\'s own device')
    for (const n of [3, 4, 5]) assert.equal(await connack(broker.mqttPort, { username: 'alice', password: 'guess', localAddress: from(n) }), 4)
    assert.equal(await connack(broker.mqttPort, { username: 'alice', password: 'secret', localAddress: from(6) }), 5, 'locked out from a new address, even with the right password')
    assert.equal(await connack(broker.mqttPort, { username: 'alice', password: 'secret', localAddress: from(6), protocolVersion: 5 }), 0x8a)
    assert.equal(await connack(broker.mqttPort, { username: 'alice', password: 'secret', localAddress: from(2) }), 0, 'her own device still gets in')
    assert.equal(await connack(broker.mqttPort, { username: 'bob', password: 'hunter2', localAddress: from(6) }), 0, 'bob is not affected')
    const warning = await waitFor(() => broker.logs.find(l => l.level === 40 && /from many addresses/.test(String(l.msg))), 5000, 'the lockout warning')
    assert.equal(warning.username, 'alice')
  })
})
