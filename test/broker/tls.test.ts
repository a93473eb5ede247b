// MQTT over TLS and secure WebSocket, client certificates, bad files, SIGHUP reload.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { X509Certificate } from 'node:crypto'
import { runCli, startBroker, type BrokerProcess } from '../helpers/broker.js'
import { collect, connect, run, sentinel } from '../helpers/mqtt.js'
import { needBinary, tempDir, waitFor } from '../helpers/system.js'
import { makePki, type TestPki } from '../helpers/tls.js'

const skip = needBinary('openssl', 'openssl')
let pki: TestPki
before(() => { if (!skip) pki = makePki() })
after(() => { if (!skip) pki.remove() })

const tlsArgs = (): string[] => ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--mqtts-port', '0', '--wss-port', '0']
const listener = (b: BrokerProcess, name: string): string => {
  const line = b.logs.find(l => l.listeners) as { listeners: Record<string, string> }
  return line.listeners[name]
}

test('MQTT over TLS and over secure WebSocket with MQTT.js, and mosquitto_pub --cafile', { skip }, async () => {
  const broker = await startBroker({ args: tlsArgs() })
  try {
    const mqtts = listener(broker, 'mqtts')
    const wss = listener(broker, 'wss')
    assert.match(mqtts, /^mqtts:\/\/127\.0\.0\.1:\d+$/)
    assert.match(wss, /^wss:\/\/127\.0\.0\.1:\d+\/mqtt$/)
    const ca = readFileSync(pki.ca)
    const sub = await connect(mqtts, { ca, servername: 'localhost' })
    const got = collect(sub)
    await sub.subscribeAsync('tls/#', { qos: 1 })
    const viaWss = await connect(wss, { ca, servername: 'localhost' } as never)
    await viaWss.publishAsync('tls/wss', 'over wss', { qos: 1 })
    await viaWss.endAsync()
    if (!needBinary('mosquitto_pub', 'mosquitto-clients')) {
      const r = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', new URL(mqtts).port, '--cafile', pki.ca, '--insecure', '-t', 'tls/cli', '-q', '1', '-m', 'over tls'])
      assert.equal(r.code, 0, r.stderr)
    }
    await waitFor(() => got.length >= 2, 5000, 'messages over TLS')
    assert.ok(got.some(m => m.payload === 'over wss'))
    await sub.endAsync()
  } finally {
    await broker.stop()
  }
})

test('--tls-require-client-cert: a client with a certificate from --tls-ca connects, one without is refused', { skip }, async () => {
  const broker = await startBroker({ args: [...tlsArgs(), '--tls-ca', pki.ca, '--tls-require-client-cert'] })
  try {
    const mqtts = listener(broker, 'mqtts')
    const device = pki.client('device-7')
    const ok = await connect(mqtts, { ca: readFileSync(pki.ca), cert: readFileSync(device.cert), key: readFileSync(device.key), servername: 'localhost' })
    await ok.endAsync()
    await assert.rejects(connect(mqtts, { ca: readFileSync(pki.ca), servername: 'localhost' }))
    if (!needBinary('mosquitto_pub', 'mosquitto-clients')) {
      const port = new URL(mqtts).port
      const withCert = await run('mosquitto_pub', ['-p', port, '--cafile', pki.ca, '--insecure', '--cert', device.cert, '--key', device.key, '-t', 't', '-m', 'x'])
      assert.equal(withCert.code, 0, withCert.stderr)
      const without = await run('mosquitto_pub', ['-p', port, '--cafile', pki.ca, '--insecure', '-t', 't', '-m', 'x'])
      assert.notEqual(without.code, 0)
    }
    // The plain listener is unaffected.
    const plain = await connect(broker.mqttUrl)
    await plain.endAsync()
  } finally {
    await broker.stop()
  }
})

test('bad or mismatched certificate files exit 2 naming the file', { skip }, async () => {
  const other = pki.server('other')
  const notPem = join(pki.dir, 'not.pem')
  writeFileSync(notPem, 'hello')
  const cases: Array<[string[], RegExp]> = [
    [['--tls-cert', '/nonexistent.crt', '--tls-key', pki.serverKey], /--tls-cert: cannot read \/nonexistent.crt: ENOENT/],
    [['--tls-cert', pki.serverCert, '--tls-key', notPem], new RegExp(`--tls-key: ${notPem} is not a PEM file`)],
    [['--tls-cert', pki.serverCert, '--tls-key', other.key], new RegExp(`--tls-key: ${other.key} does not match the certificate in ${pki.serverCert}`)],
    [['--tls-cert', pki.serverCert], /--tls-cert needs --tls-key/],
    [['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-require-client-cert'], /--tls-require-client-cert needs --tls-ca/]
  ]
  for (const [args, message] of cases) {
    const r = await runCli(['start', '--mqtt-port', '0', '--ws-port', 'off', '--http-port', 'off', '--storage', 'memory', ...args])
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, message)
  }
})

function serverFingerprint (port: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: Number(port), servername: 'localhost', ca: readFileSync(pki.ca) }, () => {
      resolve(new X509Certificate(s.getPeerX509Certificate()?.raw ?? Buffer.alloc(0)).fingerprint256)
      s.destroy()
    })
    s.once('error', reject)
  })
}

test('SIGHUP reloads the certificates without dropping connections; a bad file keeps the old ones; one line says which', { skip }, async () => {
  const cert = join(pki.dir, 'live.crt')
  const key = join(pki.dir, 'live.key')
  copyFileSync(pki.serverCert, cert)
  copyFileSync(pki.serverKey, key)
  const broker = await startBroker({ args: ['--tls-cert', cert, '--tls-key', key, '--mqtts-port', '0', '--wss-port', 'off'] })
  const hup = async (): Promise<string> => {
    const seen = broker.logs.filter(l => l.module === 'reload').length
    broker.proc.kill('SIGHUP')
    const line = await waitFor(() => broker.logs.filter(l => l.module === 'reload')[seen], 3000, 'the reload line')
    return String(line.msg)
  }
  try {
    const port = new URL(listener(broker, 'mqtts')).port
    const before = await serverFingerprint(port)
    const client = await connect(listener(broker, 'mqtts'), { ca: readFileSync(pki.ca), servername: 'localhost' })
    assert.equal(await hup(), 'reloaded (SIGHUP): tls unchanged')
    const renewed = pki.server('renewed')
    copyFileSync(renewed.cert, cert)
    copyFileSync(renewed.key, key)
    assert.equal(await hup(), 'reloaded (SIGHUP): tls reloaded')
    const afterReload = await serverFingerprint(port)
    assert.notEqual(afterReload, before, 'new connections get the new certificate')
    assert.ok(client.connected, 'the existing connection stays up')
    await client.publishAsync('still/here', 'yes', { qos: 1 })

    writeFileSync(key, 'garbage')
    assert.equal(await hup(), `reloaded (SIGHUP): tls failed, the previous one stays in force (--tls-key: ${key} is not a PEM file (no -----BEGIN line))`)
    assert.equal(broker.logs.filter(l => l.module === 'reload').at(-1)?.level, 40, 'a warning')
    assert.equal(await serverFingerprint(port), afterReload)
    copyFileSync(renewed.key, key)
    assert.equal(await hup(), 'reloaded (SIGHUP): tls repaired', 'fixed back to the certificate in force')
    assert.equal(await serverFingerprint(port), afterReload)
    await client.endAsync()
  } finally {
    await broker.stop()
  }
})

test('--auth-cert-identity cn over mqtts and wss: the certificate CN is the username the ACL sees; no password needed', { skip }, async () => {
  const acl = join(pki.dir, 'cert.acl')
  writeFileSync(acl, 'user device-7\ntopic readwrite devices/device-7/#\n')
  const broker = await startBroker({
    args: [...tlsArgs(), '--tls-ca', pki.ca, '--tls-require-client-cert', '--auth-cert-identity', 'cn', '--acl-file', acl]
  })
  try {
    const device = pki.client('device-7')
    const creds = { ca: readFileSync(pki.ca), cert: readFileSync(device.cert), key: readFileSync(device.key), servername: 'localhost' }
    for (const url of [listener(broker, 'mqtts'), listener(broker, 'wss')]) {
      const client = await connect(url, creds as never)
      const got = collect(client)
      const granted = await new Promise<number[]>(resolve => client.subscribe(['devices/device-7/cmd', 'devices/device-8/cmd'], { qos: 1 }, (_e, g) => resolve((g ?? []).map(x => x.qos))))
      assert.equal(granted[0], 1, 'its own topic')
      await client.publishAsync('devices/device-7/cmd', 'mine', { qos: 1 })
      await client.publishAsync('devices/device-8/cmd', 'not mine', { qos: 1 }) // acknowledged, not routed
      await waitFor(() => got.length >= 1, 3000, 'its own message')
      await sentinel(client, got, 'devices/device-7/cmd')
      assert.deepEqual(got.map(m => m.payload), ['mine'])
      await client.endAsync()
    }
    const connected = broker.logs.filter(l => l.msg === 'client connected').map(l => l.username)
    assert.deepEqual(connected, ['device-7', 'device-7'], 'the CN became the username')
  } finally {
    await broker.stop()
  }
})

test('the README\'s openssl recipe makes certificates that Swallow serves and mosquitto_pub and MQTT.js accept, client certificate included', { skip: skip || needBinary('mosquitto_pub', 'mosquitto-clients') }, async () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
  const commands = readme.split('\n').filter(line => line.startsWith('openssl req '))
  assert.equal(commands.length, 3, 'three openssl commands in the README')
  const dir = tempDir('swallow-readme-tls-')
  try {
    for (const command of commands) {
      const r = await run('sh', ['-c', `cd '${dir.path}' && ${command}`])
      assert.equal(r.code, 0, `${command}: ${r.stderr}`)
    }
    const file = (name: string): string => join(dir.path, name)
    const broker = await startBroker({
      args: ['--tls-cert', file('server.crt'), '--tls-key', file('server.key'), '--tls-ca', file('ca.crt'), '--tls-require-client-cert',
        '--auth-cert-identity', 'cn', '--mqtts-port', '0', '--wss-port', 'off']
    })
    try {
      const mqtts = listener(broker, 'mqtts')
      const sub = await connect(mqtts, { ca: readFileSync(file('ca.crt')), cert: readFileSync(file('client.crt')), key: readFileSync(file('client.key')) })
      const got = collect(sub)
      await sub.subscribeAsync('recipe/#', { qos: 1 })
      // Host name verification on: the certificate names localhost and 127.0.0.1.
      const r = await run('mosquitto_pub', ['-h', 'localhost', '-p', new URL(mqtts).port, '--cafile', file('ca.crt'),
        '--cert', file('client.crt'), '--key', file('client.key'), '-t', 'recipe/t', '-q', '1', '-m', 'pasted'])
      assert.equal(r.code, 0, r.stderr)
      await waitFor(() => got.length === 1, 5000, 'the message over TLS')
      assert.equal(got[0].payload, 'pasted')
      await sub.endAsync()
    } finally {
      await broker.stop()
    }
  } finally {
    dir.remove()
  }
})
