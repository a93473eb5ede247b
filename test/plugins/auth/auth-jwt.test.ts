// JWT identities against a real broker: HS256 secret, PEM public key, JWKS; expired,
// not-yet-valid, wrong key, alg none, algorithm confusion, claims, the acl claim.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose'
import { startBroker, runCli, type BrokerProcess } from '../../helpers/broker.js'
import { collect, connect, sentinel } from '../../helpers/mqtt.js'
import { waitFor } from '../../helpers/system.js'
import { connack, files, subscribeCodes } from './auth-helpers.js'

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'
const now = (): number => Math.floor(Date.now() / 1000)
const b64url = (value: object | string): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

async function sign (claims: JWTPayload, key: CryptoKey | Uint8Array, alg: string): Promise<string> {
  return await new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).sign(key)
}

const hs = (claims: JWTPayload, secret = SECRET): Promise<string> => sign(claims, new TextEncoder().encode(secret), 'HS256')
const valid = (sub: string, extra: JWTPayload = {}): JWTPayload => ({ sub, iss: 'swallow-test', aud: 'mqtt', exp: now() + 600, ...extra })

describe('JWT with an HS256 secret and a PEM public key', () => {
  let broker: BrokerProcess
  let rsa: { privateKey: CryptoKey, publicKey: CryptoKey }
  let otherRsa: { privateKey: CryptoKey, publicKey: CryptoKey }
  let pem: string
  before(async () => {
    rsa = await generateKeyPair('RS256')
    otherRsa = await generateKeyPair('RS256')
    pem = await exportSPKI(rsa.publicKey)
    const f = files({ 'rsa.pem': pem })
    broker = await startBroker({
      storage: 'memory',
      args: ['--jwt-secret', SECRET, '--jwt-key', f.path('rsa.pem'), '--jwt-issuer', 'swallow-test', '--jwt-audience', 'mqtt', '--auth-max-failures', '0']
    })
  })
  after(async () => { await broker.stop() })
  const code = (username: string, password: string): Promise<number | 'closed'> => connack(broker.mqttPort, { username, password })

  test('accepts a valid HS256 or RS256 token whose sub equals the username', async () => {
    assert.equal(await code('dev1', await hs(valid('dev1'))), 0)
    assert.equal(await code('dev1', await sign(valid('dev1'), rsa.privateKey, 'RS256')), 0)
  })

  test('refuses expired, not-yet-valid, wrong-key, wrong-claim and mismatched tokens with CONNACK 4', async () => {
    assert.equal(await code('dev1', await hs(valid('dev1', { exp: now() - 60 }))), 4, 'expired')
    assert.equal(await code('dev1', await hs(valid('dev1', { nbf: now() + 600 }))), 4, 'not yet valid')
    assert.equal(await code('dev1', await hs(valid('dev1'), 'another-secret-that-is-also-32-bytes-long')), 4, 'wrong secret')
    assert.equal(await code('dev1', await sign(valid('dev1'), otherRsa.privateKey, 'RS256')), 4, 'wrong RSA key')
    assert.equal(await code('dev1', await hs(valid('dev1', { iss: 'someone-else' }))), 4, 'wrong issuer')
    assert.equal(await code('dev1', await hs(valid('dev1', { aud: 'web' }))), 4, 'wrong audience')
    assert.equal(await code('dev2', await hs(valid('dev1'))), 4, 'username differs from sub')
    const noExp = valid('dev1')
    delete noExp.exp
    assert.equal(await code('dev1', await hs(noExp)), 4, 'no exp')
  })

  test('refuses alg none and algorithm confusion', async () => {
    const unsecured = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(valid('dev1'))}.`
    assert.equal(await code('dev1', unsecured), 4, 'alg none')
    // HS256 "signed" with the RSA public key's PEM text: the classic confusion attack.
    assert.equal(await code('dev1', await hs(valid('dev1'), pem)), 4, 'HS256 with the public key as secret')
  })

  test('malformed tokens and junk passwords are refused, never a crash', async () => {
    for (const junk of ['eyJ', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZXYxIn0.', 'eyJ!!.eyJ.x', `eyJ${'A'.repeat(20_000)}.eyJ.x`, `${b64url('not json')}.${b64url('x')}.abc`]) {
      assert.equal(await code('dev1', junk), 4, junk.slice(0, 40))
    }
    assert.equal(await code('dev1', await hs(valid('dev1'))), 0)
  })

  test('an acl claim narrows what the token holder may publish and subscribe', async () => {
    const token = await hs(valid('dev7', { acl: { pub: ['devices/%u/out'], sub: ['devices/%u/in/#'] } }))
    const dev = await connect(broker.mqttUrl, { username: 'dev7', password: token, clientId: 'dev7-client' })
    const watcher = await connect(broker.mqttUrl, { username: 'w', password: await hs(valid('w')) })
    const seen = collect(watcher)
    assert.deepEqual(await subscribeCodes(watcher, ['devices/#']), [1])
    assert.deepEqual(await subscribeCodes(dev, ['devices/dev7/in/#', 'devices/#', 'devices/dev8/in/x']), [1, 128, 128])
    await dev.publishAsync('devices/dev7/out', 'allowed', { qos: 1 })
    await dev.publishAsync('devices/dev8/out', 'denied', { qos: 1 })
    await waitFor(() => seen.some(m => m.payload === 'allowed'), 5000, 'allowed message')
    await sentinel(dev, seen, 'devices/dev7/out')
    assert.ok(!seen.some(m => m.payload === 'denied'))
    assert.equal(await code('dev7', await hs(valid('dev7', { acl: { pub: 'everything' } }))), 4, 'malformed acl claim')
    dev.end(true)
    watcher.end(true)
  })

  test('a client is disconnected when its token expires', async () => {
    const client = await connect(broker.mqttUrl, { username: 'short', password: await hs(valid('short', { exp: now() + 2 })) })
    const started = Date.now()
    await new Promise<void>(resolve => client.once('close', () => resolve()))
    assert.ok(Date.now() - started < 4000)
    client.end(true)
  })
})

describe('JWT with a JWKS file and a custom username claim', () => {
  let broker: BrokerProcess
  let ec: { privateKey: CryptoKey, publicKey: CryptoKey }
  let pemText: string
  before(async () => {
    ec = await generateKeyPair('ES256')
    const jwk = { ...await exportJWK(ec.publicKey), kid: 'k1', alg: 'ES256' }
    pemText = await exportSPKI(ec.publicKey)
    const f = files({ 'jwks.json': JSON.stringify({ keys: [jwk] }) })
    broker = await startBroker({ storage: 'memory', args: ['--jwt-key', f.path('jwks.json'), '--jwt-username-claim', 'device_id', '--auth-max-failures', '0'] })
  })
  after(async () => { await broker.stop() })

  test('verifies ES256 tokens by kid and compares the configured claim', async () => {
    const token = await new SignJWT({ device_id: 'pump-3', exp: now() + 60 }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(ec.privateKey)
    assert.equal(await connack(broker.mqttPort, { username: 'pump-3', password: token }), 0)
    assert.equal(await connack(broker.mqttPort, { username: 'pump-4', password: token }), 4)
  })

  test('refuses HS256 tokens when only public keys are configured (no algorithm confusion)', async () => {
    assert.equal(await connack(broker.mqttPort, { username: 'pump-3', password: await hs({ device_id: 'pump-3', exp: now() + 60 }, pemText) }), 4)
    assert.equal(await connack(broker.mqttPort, { username: 'pump-3', password: 'not-a-token' }), 4)
    assert.equal(await connack(broker.mqttPort, {}), 5, 'anonymous')
  })
})

test('a short --jwt-secret or a private key as --jwt-key stops the broker at startup with exit 2', async () => {
  const short = await runCli(['start', '--mqtt-port', '0', '--ws-port', 'off', '--http-port', 'off', '--storage', 'memory', '--jwt-secret', 'short'], {}, 60_000)
  assert.equal(short.code, 2)
  assert.match(short.stderr, /at least 32 bytes/)
  const f = files({ 'private.pem': '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n' })
  const priv = await runCli(['start', '--mqtt-port', '0', '--ws-port', 'off', '--http-port', 'off', '--storage', 'memory', '--jwt-key', f.path('private.pem')], {}, 60_000)
  assert.equal(priv.code, 2)
  assert.match(priv.stderr, /private key/)
})
