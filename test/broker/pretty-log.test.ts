// The terminal format (--log-format pretty, and auto on a terminal): one line per event,
// one startup line, fields only in JSON mode, colours only on a terminal.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { SWALLOW_BIN } from '../helpers/broker.js'
import { connect, connect5 } from '../helpers/mqtt.js'
import { needBinary, tempDir, waitFor } from '../helpers/system.js'

interface PrettyBroker {
  /** stdout so far, split in lines (a terminal's \r removed). */
  lines: () => string[]
  mqttUrl: string
  waitForLine: (pattern: RegExp) => Promise<string>
  stop: () => Promise<void>
}

/** Starts the real CLI writing to a pipe, or with `tty` inside `script` (a pseudo-terminal). */
async function startPretty (args: string[], tty = false): Promise<PrettyBroker> {
  const dir = tempDir()
  const pidFile = `${dir.path}/pid`
  const argv = [SWALLOW_BIN, 'start', '--mqtt-port', '0', '--ws-port', 'off', '--http-port', 'off', '--storage', 'memory', '--pid-file', pidFile, ...args]
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SWALLOW_') && k !== 'NO_COLOR'))
  const proc = tty
    ? spawn('script', ['-qfec', [process.execPath, ...argv].map(a => `'${a}'`).join(' '), '/dev/null'], { env, stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  proc.stdout.on('data', d => { out += String(d) })
  const exited = new Promise(resolve => proc.once('exit', resolve))
  const lines = (): string[] => out.replaceAll('\r', '').split('\n').filter(l => l !== '')
  const waitForLine = async (pattern: RegExp): Promise<string> => await waitFor(() => lines().find(l => pattern.test(l)), 10_000, `a line matching ${pattern}: ${out}`)
  const startup = await waitForLine(/listening on/)
  const pid = Number(readFileSync(pidFile, 'utf8'))
  return {
    lines,
    mqttUrl: /mqtt:\/\/127\.0\.0\.1:\d+/.exec(startup)?.[0] ?? '',
    waitForLine,
    stop: async () => {
      try { process.kill(pid, 'SIGTERM') } catch {}
      await exited
      dir.remove()
    }
  }
}

const TIME = '\\d\\d:\\d\\d:\\d\\d'

test('--log-format pretty into a pipe: one startup line, one line per connect and disconnect, no fields, no colour codes', async () => {
  const broker = await startPretty(['--log-format', 'pretty'])
  try {
    assert.equal(broker.lines().length, 1, `the startup line only: ${broker.lines().join('\n')}`)
    assert.match(broker.lines()[0], new RegExp(`^${TIME} Swallow \\S+ \\(pid \\d+\\) listening on mqtt://127\\.0\\.0\\.1:\\d+ \\(storage: memory; loopback only`))
    const device = await connect5(broker.mqttUrl, { clientId: 'my-device' })
    await device.endAsync()
    const old = await connect(broker.mqttUrl, { clientId: 'old-device' })
    old.stream.destroy()
    await broker.waitForLine(/disconnect old-device/)
    await broker.waitForLine(/disconnect my-device/)
    const events = broker.lines().slice(1).map(l => l.slice(l.indexOf(' ') + 1))
    assert.deepEqual(events.sort(), [
      'connect my-device 127.0.0.1 tcp v5',
      'disconnect my-device (client closed)',
      'connect old-device 127.0.0.1 tcp v3.1.1',
      'disconnect old-device (connection lost)'
    ].sort())
    for (const line of broker.lines()) assert.match(line, new RegExp(`^${TIME} `), 'each line starts with the time')
    assert.doesNotMatch(broker.lines().join('\n'), /\x1b|clientId|[{}]/, 'no colour codes, no fields')
  } finally {
    await broker.stop()
  }
  const stopped = broker.lines().slice(-2)
  assert.match(stopped[0], /shutting down \(SIGTERM\)$/)
  assert.match(stopped[1], /stopped$/)
})

test('a warning keeps its fields on its line; --log-level debug shows what the plugins loaded at startup', async () => {
  const broker = await startPretty(['--log-format', 'pretty', '--host', '0.0.0.0', '--log-level', 'debug'])
  try {
    const lines = broker.lines()
    assert.ok(lines.some(l => new RegExp(`^${TIME} WARN anonymous clients from other machines .* host=0\\.0\\.0\\.0$`).test(l)), lines.join('\n'))
    assert.ok(lines.some(l => /retained store loaded$/.test(l)), 'startup details at debug')
    assert.equal(lines.filter(l => /listening on/.test(l)).length, 1)
  } finally {
    await broker.stop()
  }
})

test('on a terminal the default (auto) is the same one-line format, with colours', { skip: needBinary('script', 'bsdutils') }, async () => {
  const broker = await startPretty([], true)
  try {
    assert.equal(broker.lines().length, 1, `the startup line only: ${broker.lines().join('\n')}`)
    // eslint-disable-next-line no-control-regex
    assert.match(broker.lines()[0], /^\x1b\[2m\d\d:\d\d:\d\d\x1b\[0m Swallow \S+ \(pid \d+\) listening on/, 'the time in dim')
    const device = await connect5(broker.mqttUrl, { clientId: 'tty-device' })
    await broker.waitForLine(/connect tty-device 127\.0\.0\.1 tcp v5$/)
    await device.endAsync()
  } finally {
    await broker.stop()
  }
})

test('auto into a pipe stays JSON lines, with the fields', async () => {
  const broker = await startPretty([])
  try {
    const entries = broker.lines().map(l => JSON.parse(l) as Record<string, unknown>)
    const startup = entries.find(e => e.listeners !== undefined) ?? {}
    assert.equal(startup.level, 30)
    assert.match(String((startup.listeners as Record<string, string>).mqtt), /^mqtt:\/\/127\.0\.0\.1:\d+$/)
  } finally {
    await broker.stop()
  }
})
