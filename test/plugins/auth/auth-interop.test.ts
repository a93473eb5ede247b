// `swallow passwd` mirrors mosquitto_passwd, and its files work in a real Mosquitto broker
// (started here on a free port with its own config, never the shared one on 1883) and in
// Swallow alike.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { userInfo } from 'node:os'
import { SWALLOW_BIN, runCli, startBroker } from '../../helpers/broker.js'
import { run } from '../../helpers/mqtt.js'
import { freePort, needBinary, waitFor } from '../../helpers/system.js'
import { connack, files } from './auth-helpers.js'

const skip = needBinary('mosquitto', 'mosquitto') || needBinary('mosquitto_pub', 'mosquitto-clients') || needBinary('mosquitto_passwd', 'mosquitto')

/** Runs `swallow passwd ...` with `input` piped to stdin (answers to the prompts). */
function passwd (args: string[], input?: string): Promise<{ code: number | null, stderr: string }> {
  return new Promise(resolve => {
    const proc = spawn(process.execPath, [SWALLOW_BIN, 'passwd', ...args], { stdio: ['pipe', 'ignore', 'pipe'] })
    let stderr = ''
    proc.stderr.on('data', d => { stderr += String(d) })
    proc.stdin.end(input ?? '')
    proc.once('exit', code => resolve({ code, stderr }))
  })
}

async function startMosquitto (passwordFile: string): Promise<{ port: number, proc: ChildProcess, stop: () => Promise<void> }> {
  const port = await freePort()
  const f = files({})
  const conf = f.path('mosquitto.conf')
  // As root, Mosquitto would drop to user "mosquitto", which cannot read a 0600 file.
  const user = userInfo().uid === 0 ? 'user root\n' : ''
  writeFileSync(conf, `listener ${port} 127.0.0.1\npassword_file ${passwordFile}\nallow_anonymous false\n${user}`)
  const proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  proc.stderr?.on('data', d => { log += String(d) })
  await waitFor(async () => log.includes('running') || proc.exitCode !== null, 5000, 'mosquitto to start')
  assert.equal(proc.exitCode, null, `mosquitto exited: ${log}`)
  return {
    port,
    proc,
    stop: async () => {
      if (proc.exitCode !== null) return
      const exited = new Promise(resolve => proc.once('exit', resolve))
      proc.kill('SIGTERM')
      await exited
    }
  }
}

const pub = (port: number, user: string, password: string): Promise<{ code: number | null, stderr: string }> =>
  run('mosquitto_pub', ['-p', String(port), '-u', user, '-P', password, '-t', 'interop', '-m', 'x'])

describe('a file written by swallow passwd', { skip }, () => {
  let file: string
  let plain: string
  let mosquitto: Awaited<ReturnType<typeof startMosquitto>>
  before(async () => {
    const f = files({ plain: 'erin:erin-pw\n# a comment\nfrank:frank pw with spaces\n' })
    file = f.path('passwd')
    plain = f.path('plain')
    assert.equal((await passwd(['-c', '-b', file, 'alice', 'alice-pw'])).code, 0)
    assert.equal((await passwd(['-b', file, 'bob', 'bob-pw'])).code, 0)
    assert.equal((await passwd([file, 'carol'], 'carol-pw\ncarol-pw\n')).code, 0, 'interactive prompt')
    assert.equal((await passwd(['-b', file, 'dave', 'dave-pw'])).code, 0)
    assert.equal((await passwd(['-D', file, 'dave'])).code, 0)
    assert.equal((await passwd(['-b', file, 'bob', 'bob-new'])).code, 0, 'update an existing user')
    assert.equal((await passwd(['-U', plain])).code, 0)
    mosquitto = await startMosquitto(file)
  })
  after(async () => { await mosquitto?.stop() })

  test('has $7$ lines with a strong iteration count, one per user, mode 0600', () => {
    const lines = readFileSync(file, 'utf8').trim().split('\n')
    assert.deepEqual(lines.map(l => l.split(':')[0]), ['alice', 'bob', 'carol'])
    for (const l of lines) assert.match(l, /^[a-z]+:\$7\$210000\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/)
    assert.equal(statSync(file).mode & 0o777, 0o600)
  })

  test('works in a real mosquitto broker: right passwords accepted, wrong and deleted users refused', async () => {
    assert.equal((await pub(mosquitto.port, 'alice', 'alice-pw')).code, 0)
    assert.equal((await pub(mosquitto.port, 'bob', 'bob-new')).code, 0)
    assert.equal((await pub(mosquitto.port, 'carol', 'carol-pw')).code, 0)
    assert.notEqual((await pub(mosquitto.port, 'bob', 'bob-pw')).code, 0, 'old password')
    assert.notEqual((await pub(mosquitto.port, 'dave', 'dave-pw')).code, 0, 'deleted user')
    assert.notEqual((await pub(mosquitto.port, 'alice', 'wrong')).code, 0)
  })

  test('-U hashes a plaintext file in place, and mosquitto reads the result', async () => {
    const text = readFileSync(plain, 'utf8')
    assert.match(text, /^erin:\$7\$/m)
    assert.match(text, /^# a comment$/m)
    const m2 = await startMosquitto(plain)
    try {
      assert.equal((await pub(m2.port, 'erin', 'erin-pw')).code, 0)
      assert.equal((await pub(m2.port, 'frank', 'frank pw with spaces')).code, 0)
    } finally {
      await m2.stop()
    }
  })

  test('works in Swallow too', async () => {
    const broker = await startBroker({ storage: 'memory', args: ['--password-file', file] })
    try {
      assert.equal(await connack(broker.mqttPort, { username: 'carol', password: 'carol-pw' }), 0)
      assert.equal(await connack(broker.mqttPort, { username: 'bob', password: 'bob-pw' }), 4)
    } finally {
      await broker.stop()
    }
  })
})

test('a file written by mosquitto_passwd works in Swallow, and swallow passwd can edit it', { skip }, async () => {
  const f = files({})
  const file = f.path('passwd')
  assert.equal((await run('mosquitto_passwd', ['-c', '-b', file, 'alice', 'secret'])).code, 0)
  assert.equal((await run('mosquitto_passwd', ['-H', 'sha512', '-b', file, 'bob', 'hunter2'])).code, 0)
  assert.equal((await passwd(['-b', file, 'carol', 'carol-pw'])).code, 0)
  const broker = await startBroker({ storage: 'memory', args: ['--password-file', file] })
  try {
    assert.equal(await connack(broker.mqttPort, { username: 'alice', password: 'secret' }), 0)
    assert.equal(await connack(broker.mqttPort, { username: 'bob', password: 'hunter2' }), 0)
    assert.equal(await connack(broker.mqttPort, { username: 'carol', password: 'carol-pw' }), 0)
    const sub = await run('mosquitto_pub', ['-p', String(broker.mqttPort), '-u', 'alice', '-P', 'secret', '-t', 'x', '-m', 'y', '-q', '1'])
    assert.equal(sub.code, 0, sub.stderr)
  } finally {
    await broker.stop()
  }
})

test('swallow passwd: usage errors exit 2, failures exit 1 with a message', async () => {
  const f = files({ passwd: 'alice:$6$IHLyFRzXnjLAzwqn$C8nuo3qQCYehjBHpePrUQCrNj3pAQGdxzjJmJEPGngNw+eUEVtN6A7xl4YF8lXWxr6BIc1/B20cFI9xdCYc9pw==\n' })
  const file = f.path('passwd')
  assert.equal((await runCli(['passwd'])).code, 2)
  assert.equal((await runCli(['passwd', '-b', file, 'a:b', 'pw'])).code, 2, 'colon in username')
  assert.equal((await runCli(['passwd', '-H', 'md5', '-b', file, 'a', 'pw'])).code, 2)
  assert.equal((await runCli(['passwd', '-c', '-D', file, 'a'])).code, 2)
  const missing = await runCli(['passwd', '-D', file, 'nobody'])
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /not found/)
  const nofile = await runCli(['passwd', '-b', f.path('absent'), 'a', 'pw'])
  assert.equal(nofile.code, 1)
  assert.match(nofile.stderr, /does not exist \(use -c to create it\)/)
  const mismatch = await passwd([file, 'zed'], 'one\ntwo\n')
  assert.equal(mismatch.code, 1)
  assert.match(mismatch.stderr, /do not match/)
  assert.equal((await runCli(['passwd', '--help'])).code, 0)
})
