// `swallow simulate` against real brokers: a spawned Swallow (TCP and WebSocket) and a
// private Mosquitto. The simulator runs as a child process, as a user would run it.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli, startBroker, SWALLOW_BIN } from '../helpers/broker.js'
import { collect, connect } from '../helpers/mqtt.js'
import { connack } from '../plugins/auth/auth-helpers.js'
import { parseOptions, UsageError } from '../../devices/simulator/options.js'
import { freePort, needBinary, sleep, tempDir, waitFor } from '../helpers/system.js'

interface SimSummary {
  connectedPeak: number
  sent: number
  acknowledged: number
  failed: number
  errors: number
  commands: number
  commandAcks: number
  reboots: number
  verify?: { received: number, lost: number, duplicates: number }
}

interface SimProcess {
  proc: ChildProcess
  output: () => { stdout: string, stderr: string }
  exited: Promise<number | null>
}

function startSimulator (args: string[]): SimProcess {
  const proc = spawn(process.execPath, [SWALLOW_BIN, 'simulate', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  proc.stdout?.on('data', d => { stdout += String(d) })
  proc.stderr?.on('data', d => { stderr += String(d) })
  // Every run here is short; a hung simulator must not hang the suite.
  const guard = setTimeout(() => proc.kill('SIGKILL'), 45_000)
  const exited = new Promise<number | null>(resolve => proc.once('exit', code => { clearTimeout(guard); resolve(code) }))
  return { proc, output: () => ({ stdout, stderr }), exited }
}

/** waitFor, with the simulator's output in the error: a slow or failed start is then visible. */
async function waitForSim<T> (sim: SimProcess, check: () => T, timeoutMs: number, what: string): Promise<NonNullable<T>> {
  try {
    return await waitFor(check, timeoutMs, what)
  } catch (err) {
    const { stdout, stderr } = sim.output()
    throw new Error(`${(err as Error).message}; simulator exit ${sim.proc.exitCode}, stdout: ${stdout.slice(-500)} stderr: ${stderr.slice(-500)}`)
  }
}

/**
 * Runs a fleet to the end with --json and returns the exit code and the parsed summary.
 * With `untilConnected`, the fleet runs until that many devices are connected and two more
 * one-second reports have passed, then gets Ctrl-C (SIGINT): on a loaded machine the ramp
 * takes longer than its nominal rate, and a fixed --duration then ended it half-way.
 */
async function simulate (args: string[], untilConnected?: number): Promise<{ code: number | null, summary: SimSummary, stderr: string }> {
  const sim = startSimulator([...args, '--json', '--report', '1s'])
  if (untilConnected !== undefined) {
    const full = `connected ${untilConnected}/${untilConnected} `
    await waitForSim(sim, () => sim.output().stderr.split(full).length > 3, 30_000, `${untilConnected} devices connected`)
    sim.proc.kill('SIGINT')
  }
  const code = await sim.exited
  const { stdout, stderr } = sim.output()
  let summary: SimSummary
  try {
    summary = JSON.parse(stdout.trim().split('\n').pop() ?? '') as SimSummary
  } catch {
    throw new Error(`no JSON summary (exit ${code}); stdout: ${stdout}\nstderr: ${stderr}`)
  }
  return { code, summary, stderr }
}

function assertNoLoss (run: { code: number | null, summary: SimSummary, stderr: string }, devices: number): void {
  const { summary } = run
  assert.equal(summary.connectedPeak, devices, `every device connected; stderr: ${run.stderr}`)
  assert.ok(summary.sent >= devices, `each device published (sent ${summary.sent})`)
  assert.equal(summary.acknowledged, summary.sent, 'every telemetry message was acknowledged')
  assert.ok(summary.verify, 'the summary has the --verify section')
  assert.equal(summary.verify.lost, 0, `no message lost (received ${summary.verify.received} of ${summary.acknowledged})`)
  assert.equal(run.code, 0, `exit code 0; stderr: ${run.stderr}`)
}

/** Retained status of every device under `prefix`, read by a fresh subscriber. */
async function statuses (url: string, prefix: string, expected: number): Promise<Map<string, string>> {
  const client = await connect(url)
  const seen = collect(client)
  await client.subscribeAsync(`${prefix}/+/status`, { qos: 1 })
  await waitFor(() => seen.length >= expected, 5000, `${expected} retained statuses`).catch(() => {})
  client.end(true)
  return new Map(seen.map(m => [m.topic.split('/')[1], m.payload]))
}

test('bad flags are refused with a message naming the flag', () => {
  const cases: Array<{ args: string[], says: RegExp }> = [
    { args: ['--bogus'], says: /unknown flag --bogus/ },
    { args: ['--interval', 'soon'], says: /--interval: invalid duration "soon"/ },
    { args: ['--duration', '-3s'], says: /--duration: invalid duration "-3s"/ },
    { args: ['--url', 'http://localhost:1883'], says: /--url: unsupported scheme "http:"/ },
    { args: ['--url', 'not a url'], says: /--url: "not a url" is not a URL/ },
    { args: ['--devices', '0'], says: /--devices: invalid value "0"/ },
    { args: ['--devices', '20001'], says: /--devices: invalid value "20001"/ },
    { args: ['--qos', '3'], says: /--qos: invalid value "3"/ },
    { args: ['--protocol', '3'], says: /--protocol: invalid value "3"; expected 4 \(MQTT 3.1.1\) or 5/ },
    { args: ['--profile', 'toaster'], says: /--profile: unknown profile "toaster"/ },
    { args: ['--ramp', 'fast'], says: /--ramp: invalid value "fast"/ },
    { args: ['--prefix', 'a/+/b'], says: /--prefix: invalid topic prefix/ },
    { args: ['--password', 'p'], says: /--password needs --username/ },
    { args: ['--ca', '/nonexistent/ca.pem'], says: /--ca: cannot read \/nonexistent\/ca.pem: ENOENT/ },
    { args: ['--devices'], says: /--devices needs a value/ },
    { args: ['stray'], says: /unexpected argument "stray"/ }
  ]
  for (const c of cases) {
    assert.throws(() => parseOptions(c.args), (err: Error) => err instanceof UsageError && c.says.test(err.message), c.args.join(' '))
  }
  const opts = parseOptions(['--url=ws://h:8083/mqtt', '--devices', '1000', '--interval', '500ms', '--ramp', '600/m', '--verify', '--duration', '2m'])
  assert.equal(opts.devices, 1000)
  assert.equal(opts.intervalMs, 500)
  assert.equal(opts.rampPerSec, 10)
  assert.equal(opts.durationMs, 120_000)
  assert.equal(opts.verify, true)
})

test('the command line gives one clear line and exit 2 for bad flags, 1 for an unreachable broker', async () => {
  const cases: Array<{ args: string[], code: number, says: RegExp }> = [
    { args: ['--bogus'], code: 2, says: /^swallow simulate: unknown flag --bogus/ },
    { args: ['--url', `mqtt://127.0.0.1:${await freePort()}`], code: 1, says: /^swallow simulate: cannot connect to .*connection refused/ }
  ]
  await Promise.all(cases.map(async c => {
    const { code, stderr } = await runCli(['simulate', ...c.args])
    assert.equal(code, c.code, `${c.args.join(' ')}: exit ${code}, stderr: ${stderr}`)
    assert.match(stderr, c.says, c.args.join(' '))
    assert.equal(stderr.trim().split('\n').length, 1, `one line for ${c.args.join(' ')}: ${stderr}`)
  }))
  const help = await runCli(['simulate', '--help'])
  assert.equal(help.code, 0)
  assert.match(help.stdout, /--devices N/)
})

test('200 devices against Swallow with --verify lose nothing and exit 0; the fleet says offline at the end', async () => {
  const broker = await startBroker({ storage: 'memory' })
  try {
    const run = await simulate(['--url', broker.mqttUrl, '--devices', '200', '--ramp', '400/s',
      '--profile', 'mixed', '--qos', '1', '--verify'], 200)
    assertNoLoss(run, 200)
    const status = await statuses(broker.mqttUrl, 'devices', 200)
    assert.equal(status.size, 200, 'a retained status per device')
    assert.deepEqual([...new Set(status.values())], ['offline'], 'a clean stop leaves every device offline')
  } finally {
    await broker.stop()
  }
})

// This run found the out-of-order "duplicate" loss of Aedes's counter rule (the protocol core skips only an exact repeat).
test('200 devices against Swallow with embedded storage and --verify lose nothing', async () => {
  const broker = await startBroker()
  try {
    assertNoLoss(await simulate(['--url', broker.mqttUrl, '--devices', '200', '--ramp', '400/s', '--verify'], 200), 200)
  } finally {
    await broker.stop()
  }
})

test('--protocol 5: 100 MQTT 5 devices with persistent sessions against Swallow with --verify lose nothing', async () => {
  const broker = await startBroker()
  try {
    assertNoLoss(await simulate(['--url', broker.mqttUrl, '--devices', '100', '--ramp', '400/s', '--verify', '--protocol', '5'], 100), 100)
    const devices = broker.logs.filter(l => l.msg === 'client connected' && String(l.clientId ?? '').startsWith('sim-'))
    assert.ok(devices.length >= 100 && devices.every(l => l.protocol === 5), 'every device connected over MQTT 5')
  } finally {
    await broker.stop()
  }
})

// Small fleets, each against its own broker: run a few at a time to keep the file short.
describe('small fleets', { concurrency: 3 }, () => {
  test('devices obey commands and acknowledge them on <prefix>/<id>/cmd/ack; Ctrl-C stops cleanly', async () => {
    const broker = await startBroker({ storage: 'memory' })
    const sim = startSimulator(['--url', broker.mqttUrl, '--devices', '3', '--interval', '1s', '--prefix', 'site/fleet',
      '--profile', 'climate', '--duration', '40s', '--report', '1s'])
    const watcher = await connect(broker.mqttUrl)
    try {
      const seen = collect(watcher)
      await watcher.subscribeAsync('site/fleet/sim-0002/#', { qos: 1 })
      await waitForSim(sim, () => seen.some(m => m.topic.endsWith('/status') && m.payload === 'online'), 20_000, 'sim-0002 online')
      const telemetry = (): Array<Record<string, number>> => seen.filter(m => m.topic === 'site/fleet/sim-0002/telemetry').map(m => JSON.parse(m.payload))
      const acks = (): Array<Record<string, unknown>> => seen.filter(m => m.topic === 'site/fleet/sim-0002/cmd/ack').map(m => JSON.parse(m.payload))

      await watcher.publishAsync('site/fleet/sim-0002/cmd', JSON.stringify({ interval: '200ms', id: 'fast' }), { qos: 1 })
      const ack = await waitFor(() => acks().find(a => a.id === 'fast'), 5000, 'the interval ack')
      assert.equal(ack.ok, true)
      assert.equal(ack.interval, '200ms')
      // Four readings after the ack: the gaps between them are the new interval, not the 1s one.
      const before = telemetry().length
      await waitFor(() => telemetry().length - before >= 4, 10_000, 'four readings at the new interval')
      const recent = telemetry().slice(before)
      const gaps = recent.slice(1).map((r, i) => r.ts - recent[i].ts)
      assert.ok(gaps.slice(1).every(gap => gap < 700), `readings 200 ms apart, not 1 s: gaps ${gaps.join(', ')} ms`)
      const reading = telemetry().at(-1)
      assert.ok(reading)
      for (const key of ['seq', 'ts', 'temperature', 'humidity', 'pressure', 'battery']) assert.equal(typeof reading[key], 'number', key)
      assert.ok(Math.abs(reading.ts - Date.now()) < 5000, 'the device clock is about now')

      await watcher.publishAsync('site/fleet/sim-0002/cmd', 'reboot please', { qos: 1 })
      const refused = await waitFor(() => acks().find(a => a.ok === false), 5000, 'an ack refusing a non-JSON command')
      assert.match(String(refused.error), /not JSON/)

      seen.length = 0
      await watcher.publishAsync('site/fleet/sim-0002/cmd', JSON.stringify({ reboot: true }), { qos: 1 })
      await waitFor(() => acks().find(a => a.reboot === true && a.ok === true), 5000, 'the reboot ack')
      await waitFor(() => seen.some(m => m.topic.endsWith('/status') && m.payload === 'offline'), 5000, 'offline while rebooting')
      const booted = await waitForSim(sim, () => telemetry().find(t => t.boot === 2), 15_000, 'telemetry from boot 2')
      assert.ok(booted.seq > 1, 'the sequence continues across a reboot')

      // A progress report with every device back (the rebooted one too), then Ctrl-C.
      await waitForSim(sim, () => /\[\d+s\] connected 3\/3/.test(sim.output().stdout), 15_000, 'plain progress lines when not on a terminal')
      sim.proc.kill('SIGINT')
      assert.equal(await sim.exited, 0, sim.output().stderr)
      const { stdout } = sim.output()
      assert.match(stdout, /commands +3 received, 3 acknowledged, 1 reboots/)
    } finally {
      watcher.end(true)
      sim.proc.kill('SIGKILL')
      await broker.stop()
    }
  })

  test('the broker publishes every device\'s will (offline) when the simulator is killed with SIGKILL', async () => {
    const broker = await startBroker({ storage: 'memory' })
    const sim = startSimulator(['--url', broker.mqttUrl, '--devices', '20', '--prefix', 'wills', '--report', '1s'])
    const watcher = await connect(broker.mqttUrl)
    try {
      const seen = collect(watcher)
      await watcher.subscribeAsync('wills/+/status', { qos: 1 })
      const latest = (): Map<string, string> => new Map(seen.map(m => [m.topic, m.payload]))
      await waitForSim(sim, () => [...latest().values()].filter(v => v === 'online').length === 20, 20_000, '20 devices online')
      sim.proc.kill('SIGKILL')
      await sim.exited
      await waitFor(() => [...latest().values()].filter(v => v === 'offline').length === 20, 10_000, '20 wills')
      const retained = await statuses(broker.mqttUrl, 'wills', 20)
      assert.deepEqual([...new Set(retained.values())], ['offline'], 'the wills are retained')
    } finally {
      watcher.end(true)
      sim.proc.kill('SIGKILL')
      await broker.stop()
    }
  })

  test('after a broker restart the fleet comes back, spread out by jittered backoff', async () => {
    const port = await freePort()
    const args = ['--mqtt-port', String(port)]
    let broker = await startBroker({ storage: 'memory', args })
    const url = `mqtt://127.0.0.1:${port}`
    // No --duration: stopped with SIGINT once the fleet is back, however slow the machine is.
    const sim = startSimulator(['--url', url, '--devices', '50', '--ramp', '100/s', '--prefix', 'rs', '--json'])
    try {
      const before = await connect(url)
      const seenBefore = collect(before)
      await before.subscribeAsync('rs/+/status', { qos: 1 })
      await waitForSim(sim, () => new Set(seenBefore.filter(m => m.payload === 'online').map(m => m.topic)).size === 50, 20_000, '50 online')
      before.end(true)
      await broker.crash()
      broker = await startBroker({ storage: 'memory', args })
      // The new broker has no retained state: every "online" it gets is a device reconnecting.
      const after = await connect(url)
      const births = new Map<string, number>()
      after.on('message', (topic, payload) => { if (payload.toString() === 'online' && !births.has(topic)) births.set(topic, Date.now()) })
      await after.subscribeAsync('rs/+/status', { qos: 1 })
      await waitForSim(sim, () => births.size === 50, 20_000, '50 devices back')
      after.end(true)
      sim.proc.kill('SIGINT')
      const times = [...births.values()].sort((a, b) => a - b)
      assert.ok(times[times.length - 1] - times[0] > 300, `reconnects spread over ${times[times.length - 1] - times[0]} ms, not all at once`)
      assert.equal(await sim.exited, 0, sim.output().stderr)
      const summary = JSON.parse(sim.output().stdout.trim()) as SimSummary & { reconnects: number }
      assert.ok(summary.reconnects >= 50, `every device reconnected (${summary.reconnects})`)
    } finally {
      sim.proc.kill('SIGKILL')
      await broker.stop()
    }
  })

  test('with a password file the fleet logs in; a wrong password is one line and exit 1', async () => {
    const dir = tempDir()
    const passwords = join(dir.path, 'passwords')
    const created = await runCli(['passwd', '-c', '-I', '1000', '-b', passwords, 'fleet', 's3cret'])
    assert.equal(created.code, 0, created.stderr)
    const broker = await startBroker({ storage: 'memory', args: ['--password-file', passwords] })
    try {
      const ok = await simulate(['--url', broker.mqttUrl, '--devices', '5', '--duration', '1500ms', '--username', 'fleet', '--password', 's3cret'])
      assert.equal(ok.code, 0, ok.stderr)
      assert.equal(ok.summary.connectedPeak, 5)
      const refused = await runCli(['simulate', '--url', broker.mqttUrl, '--username', 'fleet', '--password', 'wrong'])
      assert.equal(refused.code, 1)
      assert.match(refused.stderr, /^swallow simulate: cannot connect to .*: the broker refused the login.*check --username and --password/)
      assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr)
    } finally {
      await broker.stop()
      dir.remove()
    }
  })

  test('locked out by the brute-force guard: --protocol 5 says "locked out", not the credentials; MQTT 3.1.1 can only say not authorized', async () => {
    const dir = tempDir()
    const passwords = join(dir.path, 'passwords')
    const created = await runCli(['passwd', '-c', '-I', '1000', '-b', passwords, 'fleet', 's3cret'])
    assert.equal(created.code, 0, created.stderr)
    const broker = await startBroker({ storage: 'memory', args: ['--password-file', passwords, '--auth-max-failures', '2', '--ws-port', 'off'] })
    try {
      for (let i = 0; i < 2; i++) assert.equal(await connack(broker.mqttPort, { username: 'fleet', password: 'wrong' }), 4)
      const v5 = await runCli(['simulate', '--url', broker.mqttUrl, '--username', 'fleet', '--password', 's3cret', '--protocol', '5'])
      assert.equal(v5.code, 1)
      assert.match(v5.stderr, /^swallow simulate: cannot connect to .*: locked out \(brute-force guard: too many failed logins for this username from this address\).*--auth-lockout/)
      assert.doesNotMatch(v5.stderr, /check --username/, 'the right credentials are not blamed')
      assert.equal(v5.stderr.trim().split('\n').length, 1, v5.stderr)
      const v4 = await runCli(['simulate', '--url', broker.mqttUrl, '--username', 'fleet', '--password', 's3cret', '--protocol', '4'])
      assert.equal(v4.code, 1)
      assert.match(v4.stderr, /the broker refused the login: .*over MQTT 3\.1\.1 a brute-force lockout looks the same: --protocol 5 tells them apart/)
    } finally {
      await broker.stop()
      dir.remove()
    }
  })

  test('the fleet runs over WebSocket (ws://.../mqtt) with --verify', async () => {
    const broker = await startBroker({ storage: 'memory' })
    try {
      assertNoLoss(await simulate(['--url', broker.wsUrl, '--devices', '30', '--duration', '3s', '--verify', '--profile', 'gps']), 30)
    } finally {
      await broker.stop()
    }
  })

  test('the same short run works against a private Mosquitto', { skip: needBinary('mosquitto', 'mosquitto') }, async () => {
    const dir = tempDir()
    const port = await freePort()
    const conf = join(dir.path, 'mosquitto.conf')
    writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\n`)
    // Its log is not read: a pipe nobody drains would fill up and freeze the broker.
    const mosquitto = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: 'ignore' })
    const url = `mqtt://127.0.0.1:${port}`
    try {
      await waitFor(async () => (await connect(url).then(c => { c.end(true); return true }, () => false)), 5000, 'mosquitto up')
      assertNoLoss(await simulate(['--url', url, '--devices', '200', '--ramp', '400/s', '--verify', '--profile', 'meter'], 200), 200)
    } finally {
      mosquitto.kill('SIGTERM')
      dir.remove()
    }
  })
})
