import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig } from '../src/config.js'
import { pluginOptions } from '../src/builtins.js'
import { ConfigError } from '../src/errors.js'
import { tempDir } from './helpers/system.js'

const load = (argv: string[], env: Record<string, string> = {}) => loadConfig({ argv, env, pluginOptions })

test('defaults: embedded storage in ./data, standard ports, loopback only', () => {
  const c = load([])
  assert.equal(c.storage, 'embedded')
  assert.equal(c.dataDir, './data')
  assert.equal(c.mqttPort, 1883)
  assert.equal(c.wsPort, 8083)
  assert.equal(c.httpPort, 8080)
  assert.equal(c.host, '127.0.0.1')
  assert.equal(c.hostExplicit, false)
  assert.equal(c.maxClientIdLength, 128)
  assert.equal(c.sections.sys.interval, 10_000)
})

test('precedence is flag > env > file > default', () => {
  const dir = tempDir()
  try {
    const file = join(dir.path, 'swallow.json')
    writeFileSync(file, JSON.stringify({ mqttPort: 1001, wsPort: 1002, httpPort: 1003, logLevel: 'debug', sys: { interval: '30s' } }))
    const c = load(['--config', file, '--mqtt-port', '3001'], { SWALLOW_MQTT_PORT: '2001', SWALLOW_WS_PORT: '2002' })
    assert.equal(c.mqttPort, 3001, 'flag beats env and file')
    assert.equal(c.wsPort, 2002, 'env beats file')
    assert.equal(c.httpPort, 1003, 'file beats default')
    assert.equal(c.logLevel, 'debug')
    assert.equal(c.sections.sys.interval, 30_000, 'plugin section from the file')
    assert.equal(c.maxInflight, 100, 'default when nobody sets it')
  } finally {
    dir.remove()
  }
})

test('the config file can be named by SWALLOW_CONFIG', () => {
  const dir = tempDir()
  try {
    const file = join(dir.path, 'c.json')
    writeFileSync(file, JSON.stringify({ storage: 'memory' }))
    assert.equal(load([], { SWALLOW_CONFIG: file }).storage, 'memory')
  } finally {
    dir.remove()
  }
})

test('off disables a listener and 0 asks for a free port', () => {
  const c = load(['--ws-port', 'off', '--http-port=off', '--mqtt-port', '0'])
  assert.equal(c.wsPort, null)
  assert.equal(c.httpPort, null)
  assert.equal(c.mqttPort, 0)
})

test('durations and sizes accept units', () => {
  const c = load(['--connect-timeout', '1.5s', '--max-packet-size', '256KiB', '--sys-interval', 'off'])
  assert.equal(c.connectTimeout, 1500)
  assert.equal(c.maxPacketSize, 256 * 1024)
  assert.equal(c.sections.sys.interval, null)
})

test('repeated list flags add up; comma lists split', () => {
  const c = load(['--ws-origins', 'http://a', '--ws-origins', 'http://b,http://c'])
  assert.deepEqual(c.wsOrigins, ['http://a', 'http://b', 'http://c'])
})

const errors: Array<[string, string[], Record<string, string>, RegExp]> = [
  ['unknown flag', ['--mqtt-prot', '1'], {}, /unknown option --mqtt-prot/],
  ['bad port', ['--mqtt-port', '70000'], {}, /--mqtt-port: invalid value "70000"; expected a port number/],
  ['bad enum', ['--storage', 'disk'], {}, /--storage: invalid value "disk"; expected embedded, memory/],
  ['missing value', ['--data-dir'], {}, /--data-dir: missing value/],
  ['bad duration', ['--connect-timeout', 'soon'], {}, /--connect-timeout: invalid value "soon"; expected a duration/],
  ['bad env value', [], { SWALLOW_HTTP_PORT: 'eighty' }, /SWALLOW_HTTP_PORT: invalid value "eighty"/],
  ['unknown env var', [], { SWALLOW_MQTT_PROT: '1' }, /unknown environment variable SWALLOW_MQTT_PROT/],
  ['positional argument', ['1883'], {}, /unexpected argument "1883"/],
  ['unreadable config file', ['--config', '/nonexistent/swallow.json'], {}, /--config: cannot read \/nonexistent\/swallow.json: ENOENT/],
  ['ws path without slash', ['--ws-path', 'mqtt'], {}, /--ws-path: invalid value "mqtt"/]
]
for (const [what, argv, env, message] of errors) {
  test(`config error: ${what} names the key, the value and what is allowed`, () => {
    assert.throws(() => load(argv, env), (err: unknown) => err instanceof ConfigError && message.test(err.message))
  })
}

test('config file errors: invalid JSON, unknown key, bad value', () => {
  const dir = tempDir()
  try {
    const bad = join(dir.path, 'bad.json')
    writeFileSync(bad, '{ "mqttPort": ')
    assert.throws(() => load(['--config', bad]), /is not valid JSON/)
    writeFileSync(bad, JSON.stringify({ mqtt_port: 1 }))
    assert.throws(() => load(['--config', bad]), /unknown key "mqtt_port"/)
    writeFileSync(bad, JSON.stringify({ sys: { interval: 'often' } }))
    assert.throws(() => load(['--config', bad]), /key "sys.interval": invalid value "often"/)
    writeFileSync(bad, JSON.stringify([1]))
    assert.throws(() => load(['--config', bad]), /must hold a JSON object/)
  } finally {
    dir.remove()
  }
})

test('a list option with an item parser takes strings from flags and objects from the file', async () => {
  const { parseOptionValue } = await import('../src/options.js')
  const spec = {
    key: 'x.rules', type: 'list' as const, default: [], help: '',
    parseItem: (raw: unknown, where: string) => {
      if (typeof raw === 'string') return { name: raw }
      if (raw && typeof raw === 'object' && 'name' in raw) return raw
      throw new ConfigError(`${where}: bad rule`)
    }
  }
  assert.deepEqual(parseOptionValue(spec, 'a,b', '--x-rules'), [{ name: 'a' }, { name: 'b' }])
  assert.deepEqual(parseOptionValue(spec, [{ name: 'c' }], 'file'), [{ name: 'c' }])
  assert.throws(() => parseOptionValue(spec, [{ nope: 1 }], 'file: key "x.rules"'), /file: key "x.rules"\[0\]: bad rule/)
})

test('sharedGroups: GROUP=STRATEGY from flags and env, an object keyed by group from the file; errors name the group and the bad value', () => {
  assert.deepEqual({ ...load(['--shared-group', 'orders=hash_topic', '--shared-group', 'jobs=sticky']).sharedGroups }, { orders: { strategy: 'hash_topic' }, jobs: { strategy: 'sticky' } })
  assert.deepEqual({ ...load([], { SWALLOW_SHARED_GROUP: 'a=random,b=least_inflight' }).sharedGroups }, { a: { strategy: 'random' }, b: { strategy: 'least_inflight' } })
  assert.deepEqual({ ...load([]).sharedGroups }, {})
  const dir = tempDir()
  try {
    const file = join(dir.path, 'swallow.json')
    writeFileSync(file, JSON.stringify({ sharedGroups: { orders: { strategy: 'hash_clientid' } } }))
    assert.deepEqual({ ...load(['--config', file]).sharedGroups }, { orders: { strategy: 'hash_clientid' } })
    const bad = (value: unknown, message: RegExp): void => {
      writeFileSync(file, JSON.stringify({ sharedGroups: value }))
      assert.throws(() => load(['--config', file]), (err: unknown) => err instanceof ConfigError && message.test(err.message))
    }
    bad({ orders: { strategy: 'fastest' } }, /key "sharedGroups": shared group "orders": invalid strategy "fastest"; expected round_robin, random/)
    bad({ orders: { strategy: 'sticky', backlog: 3 } }, /shared group "orders": unknown key "backlog"; expected strategy/)
    bad({ orders: 'sticky' }, /shared group "orders": expected an object like \{ "strategy": "hash_topic" \}/)
    bad({ 'a/b': { strategy: 'sticky' } }, /invalid shared group name "a\/b"/)
  } finally {
    dir.remove()
  }
  assert.throws(() => load(['--shared-group', 'orders=fast']), /--shared-group: shared group "orders": invalid strategy "fast"/)
  assert.throws(() => load(['--shared-group', 'orders']), /--shared-group: invalid value "orders"; expected GROUP=STRATEGY/)
  assert.throws(() => load(['--shared-group', 'a=sticky', '--shared-group', 'a=random']), /shared group "a" is given twice/)
})
