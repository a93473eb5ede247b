// Interop with Mosquitto's own clients speaking MQTT 5 (-V mqttv5): properties, session
// expiry, retained messages. Written against mosquitto_sub / mosquitto_pub 2.0.11 (Debian
// bookworm), whose mosquitto_sub has -x, -F (%P user properties, %C content type, %r retain
// flag, ...), --retained-only and --retain-as-published, and -D subscribe user-property only
// (no Retain Handling or No Local option).
import { spawn } from 'node:child_process'
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { run } from '../helpers/mqtt.js'
import { needBinary, waitFor } from '../helpers/system.js'

const skip = needBinary('mosquitto_pub', 'mosquitto-clients') || needBinary('mosquitto_sub', 'mosquitto-clients') ||
  needBinary('stdbuf', 'coreutils')
let broker: BrokerProcess
const port = (): string => String(broker.mqttPort)

before(async () => { if (!skip) broker = await startBroker() })
after(async () => { if (!skip) await broker.stop() })

/** Every received message is printed as one line starting with this (the -d debug lines do not). */
const MARK = 'MSG|'

interface Subscriber {
  /** The message lines so far, without MARK. */
  lines: string[]
  /** Resolves when mosquitto_sub exits (-C reached, -W passed, or --retained-only ended it). */
  done: Promise<{ code: number | null, lines: string[], output: string }>
}

/**
 * Starts mosquitto_sub -V mqttv5 -d and resolves once its SUBACK arrived (the broker routes a
 * subscription before it sends the SUBACK). stdbuf makes it write each line at once.
 * `format` is the -F format, without MARK.
 */
async function subscribe (args: string[], format: string): Promise<Subscriber> {
  const proc = spawn('stdbuf', ['-oL', 'mosquitto_sub', '-h', '127.0.0.1', '-p', port(), '-V', 'mqttv5', '-d', '-F', MARK + format, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  let buffered = ''
  let subacked = false
  const lines: string[] = []
  proc.stdout.on('data', chunk => {
    output += String(chunk)
    buffered += String(chunk)
    let nl
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      if (line.startsWith(MARK)) lines.push(line.slice(MARK.length))
      else if (line.includes('received SUBACK')) subacked = true
    }
  })
  proc.stderr.on('data', chunk => { output += String(chunk) })
  const done = new Promise<{ code: number | null, lines: string[], output: string }>(resolve =>
    proc.once('close', code => resolve({ code, lines, output })))
  await new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => { if (subacked) { clearInterval(poll); resolve() } }, 10)
    done.then(({ code }) => { clearInterval(poll); if (!subacked) reject(new Error(`mosquitto_sub exited ${code} before its SUBACK arrived:\n${output}`)) })
  })
  return { lines, done }
}

async function pub (...args: string[]): Promise<void> {
  const r = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port(), '-V', 'mqttv5', ...args])
  assert.equal(r.code, 0, `mosquitto_pub ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
}

/** mosquitto_sub run to completion (for subscribers that need no publish after them). */
async function sub (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await run('mosquitto_sub', ['-h', '127.0.0.1', '-p', port(), '-V', 'mqttv5', ...args], 15_000)
}

test('MQTT 5 properties: user properties, content type, response topic, correlation data and expiry reach mosquitto_sub', { skip }, async () => {
  const subscriber = await subscribe(['-t', 'v5/props/#', '-q', '1', '-C', '1', '-W', '10'], '%t|%p|%q|%P|%C|%R|%D|%E')
  await pub('-t', 'v5/props/temp', '-q', '1', '-m', 'hello v5',
    '-D', 'publish', 'user-property', 'key', 'value',
    '-D', 'publish', 'user-property', 'site', 'lab',
    '-D', 'publish', 'content-type', 'text/plain',
    '-D', 'publish', 'response-topic', 'v5/reply/temp',
    '-D', 'publish', 'correlation-data', 'req-42',
    '-D', 'publish', 'message-expiry-interval', '600')
  const { code, lines, output } = await subscriber.done
  assert.equal(code, 0, output)
  assert.equal(lines.length, 1, output)
  const [topic, payload, qos, userProperties, contentType, responseTopic, correlationData, expiry] = lines[0].split('|')
  assert.deepEqual({ topic, payload, qos, userProperties, contentType, responseTopic, correlationData },
    { topic: 'v5/props/temp', payload: 'hello v5', qos: '1', userProperties: 'key:value site:lab', contentType: 'text/plain', responseTopic: 'v5/reply/temp', correlationData: 'req-42' })
  // The remaining lifetime (MQTT-3.3.2-6): at most what was published, and not expired.
  assert.ok(Number(expiry) > 590 && Number(expiry) <= 600, `message expiry interval ${expiry}`)
})

test('mosquitto_pub -V mqttv5 -> an MQTT 3.1.1 and an MQTT 5 mosquitto_sub', { skip }, async () => {
  // The MQTT 3.1.1 subscriber is Aedes's client, the MQTT 5 publisher the protocol core's.
  const v311 = spawn('stdbuf', ['-oL', 'mosquitto_sub', '-h', '127.0.0.1', '-p', port(), '-V', 'mqttv311', '-d', '-t', 'v5/cross/#', '-q', '1', '-C', '1', '-W', '10', '-v'],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  v311.stdout.on('data', d => { out += String(d) })
  const v311Done = new Promise<number | null>(resolve => v311.once('close', resolve))
  await waitFor(() => out.includes('received SUBACK'), 10_000, `SUBACK for the MQTT 3.1.1 mosquitto_sub: ${out}`)
  const v5 = await subscribe(['-t', 'v5/cross/#', '-q', '1', '-C', '1', '-W', '10'], '%t|%p|%P')

  await pub('-t', 'v5/cross/a', '-q', '1', '-m', 'from v5', '-D', 'publish', 'user-property', 'k', 'v')
  assert.equal(await v311Done, 0, out)
  assert.match(out, /^v5\/cross\/a from v5$/m)
  const { code, lines, output } = await v5.done
  assert.equal(code, 0, output)
  assert.deepEqual(lines, ['v5/cross/a|from v5|k:v'])
})

test('MQTT 3.1.1 publisher -> MQTT 5 subscriber', { skip }, async () => {
  const v5 = await subscribe(['-t', 'v5/down', '-q', '1', '-C', '1', '-W', '10'], '%t|%p|%q|%r')
  const r = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port(), '-V', 'mqttv311', '-t', 'v5/down', '-q', '1', '-m', 'from v311'])
  assert.equal(r.code, 0, r.stderr)
  const { code, lines, output } = await v5.done
  assert.equal(code, 0, output)
  assert.deepEqual(lines, ['v5/down|from v311|1|0'])
})

test('session expiry: mosquitto_sub -c -x 3600 gets the QoS 1 messages published while it was away', { skip }, async () => {
  const session = ['-c', '-i', 'v5-persistent', '-x', '3600', '-q', '1', '-t', 'v5/persist']
  // Subscribe once to create the session, then leave (-E: exit once the SUBACK arrived).
  const first = await sub([...session, '-E', '-d'])
  assert.equal(first.code, 0, `the first mosquitto_sub -E did not finish: ${first.stdout}${first.stderr}`)
  assert.match(first.stdout, /received SUBACK/)
  assert.match(first.stdout, /Subscribed \(mid: \d+\): 1/, 'granted QoS 1')
  for (let i = 0; i < 3; i++) await pub('-t', 'v5/persist', '-q', '1', '-m', `while away ${i}`, '-D', 'publish', 'user-property', 'n', String(i))
  const again = await sub([...session, '-C', '3', '-W', '10', '-d', '-F', `${MARK}%t|%p|%q|%P`])
  assert.equal(again.code, 0, again.stdout + again.stderr)
  const lines = again.stdout.split('\n').filter(l => l.startsWith(MARK)).map(l => l.slice(MARK.length))
  assert.deepEqual(lines, ['v5/persist|while away 0|1|n:0', 'v5/persist|while away 1|1|n:1', 'v5/persist|while away 2|1|n:2'])
})

test('session expiry 0 with -c: the session ends with the connection, nothing is kept', { skip }, async () => {
  const session = ['-c', '-i', 'v5-expiry-zero', '-x', '0', '-q', '1', '-t', 'v5/expiry0']
  const first = await sub([...session, '-E', '-d'])
  assert.equal(first.code, 0, first.stdout + first.stderr)
  await pub('-t', 'v5/expiry0', '-q', '1', '-m', 'while away')
  // A stored queue would be replayed right after the CONNACK, before this live message.
  const again = await subscribe([...session, '-C', '1', '-W', '10'], '%t|%p')
  await pub('-t', 'v5/expiry0', '-q', '1', '-m', 'live')
  const { code, lines, output } = await again.done
  assert.equal(code, 0, output)
  assert.deepEqual(lines, ['v5/expiry0|live'])
  assert.match(output, /received CONNACK \(0\)/)
})

test('retained: mosquitto_pub -V mqttv5 -r, then a new mosquitto_sub -V mqttv5 gets it with the retain flag', { skip }, async () => {
  await pub('-t', 'v5/ret/a', '-r', '-q', '1', '-m', 'last')
  const r = await sub(['-t', 'v5/ret/#', '-q', '1', '-C', '1', '-W', '10', '-F', '%r|%t|%p|%q', '-D', 'subscribe', 'user-property', 'app', 'test'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, '1|v5/ret/a|last|1\n')
})

test('retained: --retained-only prints the stored message and exits at the first live one', { skip }, async () => {
  await pub('-t', 'v5/ronly/a', '-r', '-q', '1', '-m', 'stored')
  const subscriber = await subscribe(['-t', 'v5/ronly/#', '--retained-only', '-W', '10'], '%r|%t|%p')
  await waitFor(() => subscriber.lines.length >= 1, 10_000, 'the retained message')
  await pub('-t', 'v5/ronly/b', '-q', '1', '-m', 'live')
  const { code, lines, output } = await subscriber.done
  assert.equal(code, 0, output)
  assert.deepEqual(lines, ['1|v5/ronly/a|stored'])
  assert.match(output, /received PUBLISH \(d0, q0, r0, m0, 'v5\/ronly\/b'/, 'the live message ended it')
})

test('retained: a live retained message has the retain flag only with --retain-as-published', { skip }, async () => {
  await pub('-t', 'v5/rap', '-r', '-q', '1', '-m', 'stored')
  const plain = await subscribe(['-t', 'v5/rap', '-C', '2', '-W', '10'], '%r|%p')
  const rap = await subscribe(['-t', 'v5/rap', '-C', '2', '-W', '10', '--retain-as-published'], '%r|%p')
  await waitFor(() => plain.lines.length >= 1 && rap.lines.length >= 1, 10_000, 'the stored retained message at both subscribers')
  await pub('-t', 'v5/rap', '-r', '-q', '1', '-m', 'live')
  const [a, b] = await Promise.all([plain.done, rap.done])
  assert.equal(a.code, 0, a.output)
  assert.equal(b.code, 0, b.output)
  // MQTT-3.3.1-12: without Retain As Published a forwarded live message has retain 0; -13: with it, as published.
  assert.deepEqual(a.lines, ['1|stored', '0|live'])
  assert.deepEqual(b.lines, ['1|stored', '1|live'])
})

test('retained: the stored message keeps its MQTT 5 properties (MQTT-3.3.2-17, -20)', { skip }, async () => {
  await pub('-t', 'v5/retprops', '-r', '-q', '1', '-m', 'with properties',
    '-D', 'publish', 'user-property', 'origin', 'mosquitto_pub',
    '-D', 'publish', 'content-type', 'text/plain')
  const r = await sub(['-t', 'v5/retprops', '-C', '1', '-W', '10', '-F', '%r|%p|%P|%C'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, '1|with properties|origin:mosquitto_pub|text/plain\n')
})
