import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { existsSync, readFileSync } from 'node:fs'
import { runCli, startBroker } from './helpers/broker.js'
import { tempDir } from './helpers/system.js'

test('swallow --help and swallow start --help list every option with its default', async () => {
  const general = await runCli(['--help'])
  assert.equal(general.code, 0)
  assert.match(general.stdout, /Commands:\n\s+start/)
  for (const command of ['passwd', 'log', 'retained', 'simulate']) assert.match(general.stdout, new RegExp(`\\n  ${command} `), `${command} is listed`)
  assert.doesNotMatch(general.stdout, /--mqtt-port/, 'the options are in swallow start --help, not in the command list')
  const start = await runCli(['start', '--help'])
  assert.equal(start.code, 0)
  for (const flag of ['--host', '--mqtt-port', '--ws-port', '--http-port', '--data-dir', '--storage', '--config', '--log-level', '--sys-interval', '--max-inflight']) {
    assert.match(start.stdout, new RegExp(`${flag} `), `${flag} is listed`)
  }
  assert.match(start.stdout, /default: 1883; env SWALLOW_MQTT_PORT/)
})

test('an unknown command, flag or bad value exits 2 with one line', async () => {
  for (const args of [['frobnicate'], ['start', '--bogus'], ['start', '--storage', 'disk']]) {
    const r = await runCli(args)
    assert.equal(r.code, 2, `${args.join(' ')} exits 2`)
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`)
    assert.match(r.stderr, /^swallow: /)
  }
})

/** Runs `fn` with a free port that another server of this process holds, and a fresh data dir. */
async function withTakenPort (fn: (port: number, dataDir: string) => Promise<void>): Promise<void> {
  const blocker = createServer()
  await new Promise<void>(resolve => blocker.listen(0, '127.0.0.1', resolve))
  const dir = tempDir()
  try {
    await fn((blocker.address() as { port: number }).port, dir.path)
  } finally {
    blocker.close()
    dir.remove()
  }
}

test('a port already in use: one line naming the port and the flag, exit 1, no stack', async () => {
  await withTakenPort(async (port, dataDir) => {
    const r = await runCli(['start', '--mqtt-port', String(port), '--ws-port', 'off', '--http-port', 'off', '--data-dir', dataDir])
    assert.equal(r.code, 1)
    assert.equal(r.stderr.trim(), `swallow: port ${port} on 127.0.0.1 is already in use; pick another with --mqtt-port N (or --mqtt-port off)`)
    assert.doesNotMatch(r.stderr + r.stdout, /\n\s+at /, 'no stack trace')
    assert.doesNotMatch(r.stdout, /"level":(40|50)/, 'no warning or error besides that line')
  })
})

test('a data dir held by another broker: one clear line, exit 1', async () => {
  const first = await startBroker({ args: ['--ws-port', 'off', '--http-port', 'off'] })
  try {
    const r = await runCli(['start', '--mqtt-port', '0', '--ws-port', 'off', '--http-port', 'off', '--data-dir', first.dataDir])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /--data-dir: .* is in use by another Swallow process/)
  } finally {
    await first.stop()
  }
})

test('the startup line lists where the broker listens, and SIGTERM exits 0', async () => {
  const broker = await startBroker()
  const line = broker.logs.find(l => l.listeners) as { msg: string }
  assert.match(line.msg, /^Swallow \S+ \(pid \d+\) listening on mqtt:\/\/127\.0\.0\.1:\d+, ws:\/\/127\.0\.0\.1:\d+\/mqtt, http:\/\/127\.0\.0\.1:\d+ \(storage: embedded in .*; loopback only: pass --host 0.0.0.0/)
  assert.equal(broker.logs.filter(l => l.listeners).length, 1, 'one line')
  assert.equal(await broker.stop('SIGTERM'), 0)
})

test('SIGINT exits 0 as well', async () => {
  const broker = await startBroker({ storage: 'memory' })
  assert.equal(await broker.stop('SIGINT'), 0)
})

test('--pid-file holds the broker\'s own pid while it runs and is removed when it stops', async () => {
  const dir = tempDir()
  const pidFile = `${dir.path}/swallow.pid`
  const broker = await startBroker({ args: ['--pid-file', pidFile, '--storage', 'memory'] })
  try {
    assert.equal(readFileSync(pidFile, 'utf8'), `${broker.proc.pid as number}\n`)
    const line = broker.logs.find(l => l.listeners) as { msg: string }
    assert.match(line.msg, new RegExp(`\\(pid ${broker.proc.pid as number}\\)`))
    assert.equal(await broker.stop(), 0)
    assert.equal(existsSync(pidFile), false)
  } finally {
    await broker.stop()
    dir.remove()
  }
})

test('a default port in use (Mosquitto on 1883): the line says how to start beside it', async () => {
  // 1883 is taken either by a running Mosquitto or by this blocker.
  const blocker = createServer()
  await new Promise<void>(resolve => { blocker.once('error', () => resolve()); blocker.listen(1883, '127.0.0.1', resolve) })
  const dir = tempDir()
  try {
    const r = await runCli(['start', '--ws-port', 'off', '--http-port', 'off', '--data-dir', dir.path])
    assert.equal(r.code, 1)
    assert.equal(r.stderr.trim(), 'swallow: port 1883 on 127.0.0.1 is already in use; pick another with --mqtt-port N (or --mqtt-port off); ' +
      'beside another broker on the default ports: npm start -- --mqtt-port 1884 --ws-port 8093 --http-port 8090')
  } finally {
    blocker.close()
    dir.remove()
  }
})

test('a WebSocket port in use: one line naming --ws-port, exit 1, no stack', async () => {
  await withTakenPort(async (port, dataDir) => {
    const r = await runCli(['start', '--mqtt-port', '0', '--ws-port', String(port), '--http-port', 'off', '--data-dir', dataDir])
    assert.equal(r.code, 1)
    assert.equal(r.stderr.trim(), `swallow: port ${port} on 127.0.0.1 is already in use; pick another with --ws-port N (or --ws-port off)`)
    assert.doesNotMatch(r.stderr + r.stdout, /\n\s+at |"stack"/, 'no stack trace')
  })
})

test('a --data-dir where no directory can be made (under /proc) fails in one line within seconds', async () => {
  const r = await runCli(['start', '--mqtt-port', '0', '--ws-port', 'off', '--http-port', 'off', '--data-dir', '/proc/swallow-data'], {}, 10_000)
  assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`)
  assert.match(r.stderr.trim(), /^swallow: --data-dir: cannot create \/proc\/swallow-data\/sessions: ENOENT; choose a writable directory with --data-dir$/)
})
