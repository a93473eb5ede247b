// `swallow ctl` against a real broker: tables by default, --json for scripts, the token from
// --token or SWALLOW_TOKEN, the URL from --url or SWALLOW_URL, and exit codes that say what
// happened (0 done, 2 usage, 3 not found, 4 refused, 5 conflict, 1 unreachable).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { runCli, startBroker, type BrokerProcess } from '../../helpers/broker.js'
import { connect5, type MqttClient } from '../../helpers/mqtt.js'
import { freePort, waitFor } from '../../helpers/system.js'

let broker: BrokerProcess
const clients: MqttClient[] = []
let env: Record<string, string>

before(async () => {
  broker = await startBroker({ storage: 'memory', args: ['--sys-interval', 'off', '--admin-token', 'adm', '--admin-read-token', 'ro'] })
  env = { SWALLOW_URL: broker.httpUrl, SWALLOW_TOKEN: 'adm' }
  for (const [id, username] of [['ctl-1', 'alice'], ['ctl-2', 'alice'], ['ctl-3', 'bob']]) {
    const c = await connect5(broker.mqttUrl, { clientId: id, username, clean: id !== 'ctl-3', properties: id === 'ctl-3' ? { sessionExpiryInterval: 600 } : {} })
    clients.push(c)
  }
  await clients[0].subscribeAsync('ctl/+/state', { qos: 1 })
})

after(async () => {
  for (const c of clients) c.end(true)
  await broker.stop()
})

const ctl = (args: string[], extra: Record<string, string> = {}): ReturnType<typeof runCli> => runCli(['ctl', ...args], { ...env, ...extra })

test('clients list prints a table; --json prints one object per line; filters are options', async () => {
  const human = await ctl(['clients', 'list', '--prefix', 'ctl-'])
  assert.equal(human.code, 0, human.stderr)
  const lines = human.stdout.trimEnd().split('\n')
  assert.match(lines[0], /^CLIENT ID\s+USER\s+ADDRESS\s+PROTO\s+UP\s+SUBS\s+INFLIGHT\s+QUEUED\s+MSG IN\s+MSG OUT\s+NODE$/)
  assert.equal(lines.length, 4)
  assert.match(lines[1], /^ctl-1\s+alice\s+127\.0\.0\.1\s+tcp\/5\s+\d+s\s+1\s+0\s+0\s+0\s+0\s+\w{8}$/)
  const json = await ctl(['--json', 'clients', 'list', '--username', 'alice'])
  assert.deepEqual(json.stdout.trimEnd().split('\n').map(l => JSON.parse(l).clientId), ['ctl-1', 'ctl-2'])
})

test('clients show, subscriptions, publish and reload', async () => {
  const show = await ctl(['clients', 'show', 'ctl-1'])
  assert.equal(show.code, 0, show.stderr)
  assert.match(show.stdout, /^client id\s+ctl-1$/m)
  assert.match(show.stdout, /^protocol\s+MQTT 5$/m)
  assert.match(show.stdout, /^ctl\/\+\/state\s+1\s+-$/m)
  const subs = await ctl(['subscriptions', '--topic', 'ctl/x/state', '--json'])
  assert.deepEqual(JSON.parse(subs.stdout).clientId, 'ctl-1')
  const got = new Promise<string>(resolve => clients[0].once('message', (_t, p) => resolve(p.toString())))
  const pub = await ctl(['publish', 'ctl/x/state', 'on', '--qos', '1', '--user-property', 'by=ctl'])
  assert.equal(pub.code, 0, pub.stderr)
  assert.equal(pub.stdout, 'published 2 bytes to ctl/x/state (QoS 1)\n')
  assert.equal(await got, 'on')
  const reload = await ctl(['reload'])
  assert.equal(reload.code, 0)
  assert.match(reload.stdout, /^reloaded \(admin API\): nothing to reload/)
})

test('kick, sessions and bans; exit codes say what happened', async () => {
  assert.equal((await ctl(['clients', 'kick', 'nobody'])).code, 3)
  const kicked = await ctl(['clients', 'kick', 'ctl-3'])
  assert.equal(kicked.code, 0, kicked.stderr)
  assert.equal(kicked.stdout, 'kicked 1 client(s)\n')
  await waitFor(async () => (await ctl(['sessions', 'list'])).stdout.includes('ctl-3'), 5000, 'the offline session')
  // How long it has been offline, its expiry, subscriptions, queue and its oldest message's age (none queued).
  assert.match((await ctl(['sessions', 'list'])).stdout, /^ctl-3\s+\d+s\s+\S+Z\s+0\s+0\s+-$/m)
  assert.equal((await ctl(['sessions', 'delete', 'ctl-3'])).code, 0)
  assert.equal((await ctl(['sessions', 'delete', 'ctl-3'])).code, 3)

  const ban = await ctl(['bans', 'add', 'username', 'bob', '--expires', '1h', '--reason', 'test'])
  assert.equal(ban.code, 0, ban.stderr)
  assert.match(ban.stdout, /^banned username bob until \S+; kicked 0 client\(s\)\n$/)
  assert.match((await ctl(['bans', 'list'])).stdout, /^username\s+bob\s+\S+\s+test\s+admin-token$/m)
  assert.equal((await ctl(['bans', 'remove', 'username', 'bob'])).code, 0)
  assert.equal((await ctl(['bans', 'remove', 'username', 'bob'])).code, 3)
  assert.equal((await ctl(['bans', 'add', 'hostname', 'x'])).code, 2, 'the API refused the input')
  assert.equal((await ctl(['bans', 'add', 'username', 'x', '--expires', 'soon'])).code, 2)

  assert.equal((await ctl(['clients', 'kick', '--username', 'alice'])).stdout, 'kicked 2 client(s)\n')
  assert.equal((await ctl(['clients', 'kick', '--prefix', 'ctl-'])).code, 3, 'nothing left to kick')
})

test('usage errors exit 2, a missing or read-only token 4, an unreachable broker 1', async () => {
  assert.equal((await ctl(['clients', 'fly'])).code, 2)
  assert.equal((await ctl(['clients', 'list', '--bogus'])).code, 2)
  assert.equal((await ctl(['clients', 'kick'])).code, 2)
  const noToken = await ctl(['clients', 'list'], { SWALLOW_TOKEN: '' })
  assert.equal(noToken.code, 4)
  assert.match(noToken.stderr, /missing bearer token.*SWALLOW_TOKEN/)
  assert.equal((await ctl(['clients', 'list', '--token', 'ro'])).code, 0, 'the read-only token may list')
  const ro = await ctl(['clients', 'kick', 'ctl-1', '--token', 'ro'])
  assert.equal(ro.code, 4)
  assert.match(ro.stderr, /may only read/)
  const port = await freePort()
  const down = await ctl(['clients', 'list', '--url', `http://127.0.0.1:${port}`])
  assert.equal(down.code, 1)
  assert.match(down.stderr, /cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/)
})
