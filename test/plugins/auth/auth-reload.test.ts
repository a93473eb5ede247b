// Reload without dropping connections: on file change and on SIGHUP; users removed from
// the password file are disconnected; a broken file keeps the previous rules and logs
// file:line; the same broken file at startup exits 2.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { renameSync, writeFileSync } from 'node:fs'
import { startBroker, runCli, type BrokerProcess } from '../../helpers/broker.js'
import { collect, connect, type MqttClient } from '../../helpers/mqtt.js'
import { sleep, waitFor } from '../../helpers/system.js'
import { hashPassword } from '../../../plugins/auth/password-hash.js'
import { connack, files, metric, subscribeCodes } from './auth-helpers.js'

async function passwordLines (users: string[]): Promise<string> {
  return (await Promise.all(users.map(async u => `${u}:${await hashPassword(u + '-pw', 1000)}`))).join('\n') + '\n'
}

const ACL_V1 = 'user alice\ntopic read shared/#\n\nuser bob\ntopic readwrite shared/#\n\nuser carol\ntopic readwrite shared/#\n'
const ACL_V2 = 'user alice\ntopic read shared/#\ntopic deny shared/secret\n\nuser bob\ntopic readwrite shared/#\n\nuser carol\ntopic readwrite shared/#\n'
const ACL_BROKEN = 'user alice\ntopic read shared/#\ntopic raed shared/x\n'

/** Replaces a file the way editors and `swallow passwd` do: write a sibling, rename it over. */
function replaceFile (path: string, text: string): void {
  writeFileSync(path + '.new', text)
  renameSync(path + '.new', path)
}

const client = (b: BrokerProcess, user: string): Promise<MqttClient> => connect(b.mqttUrl, { username: user, password: user + '-pw' })
const logged = (b: BrokerProcess, pattern: RegExp): Array<Record<string, unknown>> => b.logs.filter(l => pattern.test(String(l.msg)))

describe('reload when a file changes', () => {
  let broker: BrokerProcess
  let f: ReturnType<typeof files>
  before(async () => {
    f = files({ passwd: await passwordLines(['alice', 'bob']), acl: ACL_V1 })
    broker = await startBroker({ storage: 'memory', args: ['--password-file', f.path('passwd'), '--acl-file', f.path('acl'), '--auth-max-failures', '0'] })
  })
  after(async () => { await broker.stop() })

  test('a user removed from the password file is disconnected; the others keep their connections; a new user can log in', async () => {
    const alice = await client(broker, 'alice')
    const bob = await client(broker, 'bob')
    const bobClosed = new Promise<void>(resolve => bob.once('close', () => resolve()))
    assert.equal(await connack(broker.mqttPort, { username: 'carol', password: 'carol-pw' }), 4)
    replaceFile(f.path('passwd'), await passwordLines(['alice', 'carol']))
    await bobClosed
    await waitFor(() => logged(broker, /^reloaded \(file change\): passwords reloaded \(2 users\), acl unchanged$/).length > 0, 5000, 'reload log')
    assert.equal(await connack(broker.mqttPort, { username: 'carol', password: 'carol-pw' }), 0)
    assert.equal(await connack(broker.mqttPort, { username: 'bob', password: 'bob-pw' }), 4)
    // Removed users are closed before the reload line is written; alice is still served after it.
    await alice.publishAsync('shared/ping', 'still here', { qos: 1 })
    assert.ok(alice.connected, 'alice kept her connection')
    alice.end(true)
    bob.end(true)
  })

  test('an ACL change applies to existing subscriptions at the next delivery', async () => {
    const alice = await client(broker, 'alice')
    const got = collect(alice)
    assert.deepEqual(await subscribeCodes(alice, ['shared/#']), [1])
    const carol = await client(broker, 'carol')
    await carol.publishAsync('shared/secret', 'before', { qos: 1 })
    await waitFor(() => got.some(m => m.payload === 'before'), 5000, 'message before the change')
    replaceFile(f.path('acl'), ACL_V2)
    await waitFor(() => logged(broker, /^reloaded \(file change\): passwords unchanged, acl reloaded \(4 rules\)$/).length > 0, 5000, 'acl reload log')
    await carol.publishAsync('shared/secret', 'after', { qos: 1 })
    await carol.publishAsync('shared/ok', 'still fine', { qos: 1 })
    await waitFor(() => got.some(m => m.payload === 'still fine'), 5000, 'allowed message after the change')
    assert.ok(!got.some(m => m.payload === 'after'), 'the denied topic no longer reaches the old subscription')
    assert.ok(await metric(broker.httpUrl, 'swallow_auth_forward_denied_total') >= 1)
    alice.end(true)
    carol.end(true)
  })

  test('a broken file keeps the previous rules in force and logs file:line; fixed, the line says repaired', async () => {
    replaceFile(f.path('acl'), ACL_BROKEN)
    const warning = await waitFor(() => broker.logs.find(l => l.level === 40 && String(l.msg).includes('acl failed')), 5000, 'reload warning')
    assert.equal(warning.msg, `reloaded (file change): passwords unchanged, acl failed, the previous one stays in force (${f.path('acl')}:3: invalid access "raed"; expected read, write, readwrite or deny before the filter)`)
    assert.deepEqual(warning.problems, [`${f.path('acl')}:3: invalid access "raed"; expected read, write, readwrite or deny before the filter`])
    // The V2 rules still apply: carol may still publish to shared/ok, alice may still read it.
    const alice = await client(broker, 'alice')
    // V2 denies shared/secret to alice: that filter is refused; shared/# only overlaps it and is granted.
    assert.deepEqual(await subscribeCodes(alice, ['shared/ok', 'shared/#', 'shared/secret']), [1, 1, 128])
    replaceFile(f.path('passwd'), 'alice:plaintext\n')
    await waitFor(() => broker.logs.find(l => l.level === 40 && String(l.msg).includes('passwords failed') && String(l.msg).includes('passwd:1:')), 5000, 'password file warning')
    assert.equal(await connack(broker.mqttPort, { username: 'carol', password: 'carol-pw' }), 0, 'previous users still log in')
    assert.ok(await metric(broker.httpUrl, 'swallow_auth_reloads_total', '{file="acl",result="error"}') >= 1)
    // Back to the very rules in force: not "unchanged", the file is good again.
    replaceFile(f.path('acl'), ACL_V2)
    await waitFor(() => logged(broker, /acl repaired \(4 rules\)$/).length > 0, 5000, 'the repaired line')
    alice.end(true)
  })
})

describe('reload on SIGHUP', () => {
  let broker: BrokerProcess
  let f: ReturnType<typeof files>
  before(async () => {
    f = files({ passwd: await passwordLines(['alice']) })
    broker = await startBroker({ storage: 'memory', args: ['--password-file', f.path('passwd'), '--auth-watch', 'false'] })
  })
  after(async () => { await broker.stop() })

  test('SIGHUP re-reads the files (with --auth-watch false, only SIGHUP does) and logs one line, also when nothing changed', async () => {
    const reloads = (): Array<Record<string, unknown>> => broker.logs.filter(l => l.trigger === 'SIGHUP')
    writeFileSync(f.path('passwd'), await passwordLines(['alice', 'dave']))
    await sleep(300)
    assert.equal(await connack(broker.mqttPort, { username: 'dave', password: 'dave-pw' }), 4)
    broker.proc.kill('SIGHUP')
    const line = await waitFor(() => reloads()[0], 5000, 'SIGHUP reload')
    assert.equal(line.msg, 'reloaded (SIGHUP): passwords reloaded (2 users)')
    assert.equal(line.module, 'reload')
    assert.equal(await connack(broker.mqttPort, { username: 'dave', password: 'dave-pw' }), 0)
    broker.proc.kill('SIGHUP')
    assert.equal((await waitFor(() => reloads()[1], 5000, 'second SIGHUP reload')).msg, 'reloaded (SIGHUP): passwords unchanged')
    assert.equal(reloads().length, 2, 'one line per SIGHUP')
    assert.equal(broker.proc.exitCode, null, 'SIGHUP does not stop the broker')
  })
})

test('SIGHUP with nothing to reload says so', async () => {
  const broker = await startBroker({ storage: 'memory', args: ['--ws-port', 'off', '--http-port', 'off'] })
  try {
    broker.proc.kill('SIGHUP')
    const line = await waitFor(() => broker.logs.find(l => l.trigger === 'SIGHUP'), 5000, 'the reload line')
    assert.equal(line.msg, 'reloaded (SIGHUP): nothing to reload (no TLS certificates or auth files configured)')
  } finally {
    await broker.stop()
  }
})

test('a broken password or ACL file at startup exits 2 naming file:line', async () => {
  const f = files({ passwd: (await passwordLines(['alice'])) + 'bob:notahash\n', acl: ACL_BROKEN, good: await passwordLines(['alice']) })
  const base = ['start', '--mqtt-port', '0', '--ws-port', 'off', '--http-port', 'off', '--storage', 'memory']
  const pw = await runCli([...base, '--password-file', f.path('passwd')], {}, 60_000)
  assert.equal(pw.code, 2)
  assert.match(pw.stderr, new RegExp(`${f.path('passwd')}:2: user "bob": the password is not hashed`))
  const acl = await runCli([...base, '--password-file', f.path('good'), '--acl-file', f.path('acl')], {}, 60_000)
  assert.equal(acl.code, 2)
  assert.match(acl.stderr, new RegExp(`${f.path('acl')}:3: invalid access "raed"`))
  const missing = await runCli([...base, '--password-file', f.path('nope')], {}, 60_000)
  assert.equal(missing.code, 2)
  assert.match(missing.stderr, /nope: cannot read: ENOENT/)
})
