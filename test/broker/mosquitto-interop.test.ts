// Interop with Mosquitto's own clients: mosquitto_pub and mosquitto_sub.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { run } from '../helpers/mqtt.js'
import { needBinary, waitFor } from '../helpers/system.js'

const skip = needBinary('mosquitto_pub', 'mosquitto-clients') || needBinary('mosquitto_sub', 'mosquitto-clients')
let broker: BrokerProcess
const port = (): string => String(broker.mqttPort)

before(async () => { if (!skip) broker = await startBroker() })
after(async () => { if (!skip) await broker.stop() })

/**
 * Starts mosquitto_sub -v for `count` messages and resolves once it is subscribed: it also
 * subscribes to a fresh retained topic, whose message arrives after its SUBACK. Its eventual
 * output is without that line.
 */
async function subscribe (args: string[], count: number): Promise<{ done: Promise<{ code: number | null, stdout: string }> }> {
  const ready = `interop/ready/${Math.random().toString(36).slice(2)}`
  assert.equal((await run('mosquitto_pub', ['-p', port(), '-t', ready, '-r', '-m', 'ready'])).code, 0)
  const proc = spawn('mosquitto_sub', ['-p', port(), '-v', '-t', ready, ...args, '-C', String(count + 1)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let stdout = ''
  proc.stdout.on('data', d => { stdout += String(d) })
  const done = new Promise<{ code: number | null, stdout: string }>(resolve => proc.once('close', code => resolve({ code, stdout: stdout.replace(`${ready} ready\n`, '') })))
  await waitFor(() => stdout.includes(`${ready} ready\n`), 10_000, 'mosquitto_sub to be subscribed')
  return { done }
}

for (const qos of ['0', '1', '2']) {
  test(`mosquitto_pub -> mosquitto_sub at QoS ${qos}`, { skip }, async () => {
    const received = await subscribe(['-t', `interop/${qos}`, '-q', qos, '-W', '8'], 3)
    for (let i = 0; i < 3; i++) {
      const r = await run('mosquitto_pub', ['-p', port(), '-t', `interop/${qos}`, '-q', qos, '-m', `hello ${i}`])
      assert.equal(r.code, 0, r.stderr)
    }
    const { code, stdout } = await received.done
    assert.equal(code, 0)
    assert.equal(stdout, `interop/${qos} hello 0\ninterop/${qos} hello 1\ninterop/${qos} hello 2\n`)
  })
}

test('retained: mosquitto_pub -r, then a new mosquitto_sub gets it', { skip }, async () => {
  assert.equal((await run('mosquitto_pub', ['-p', port(), '-t', 'interop/ret', '-r', '-q', '1', '-m', 'last'])).code, 0)
  const r = await run('mosquitto_sub', ['-p', port(), '-t', 'interop/ret', '-C', '1', '-v', '-W', '5'])
  assert.equal(r.stdout, 'interop/ret last\n')
})

test('persistent session: mosquitto_sub -c -i ID gets what was published while it was away', { skip }, async () => {
  const session = ['-p', port(), '-c', '-i', 'interop-persistent', '-q', '1', '-t', 'interop/persist']
  // Subscribe once to create the session, then leave.
  await run('mosquitto_sub', [...session, '-E'])
  for (let i = 0; i < 3; i++) await run('mosquitto_pub', ['-p', port(), '-t', 'interop/persist', '-q', '1', '-m', `while away ${i}`])
  const r = await run('mosquitto_sub', [...session, '-C', '3', '-W', '5'])
  assert.equal(r.stdout, 'while away 0\nwhile away 1\nwhile away 2\n')
})

test('a 40-character client id is accepted (Aedes alone allows 23 for MQTT 3.1)', { skip }, async () => {
  const id = 'a'.repeat(40)
  for (const version of ['mqttv31', 'mqttv311']) {
    const r = await run('mosquitto_pub', ['-p', port(), '-V', version, '-i', id, '-t', 'interop/id', '-m', 'x'])
    assert.equal(r.code, 0, `${version}: ${r.stderr}`)
  }
})
