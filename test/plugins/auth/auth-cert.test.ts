// --auth-cert-identity cn: the CN of a verified client certificate is the username.
// There is no TLS listener in the broker yet, so this tests the extraction and the
// identity decision against a real Node TLS server/client pair, with certificates made
// here by openssl.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { connect as tlsConnect, createServer, type Server, type TLSSocket } from 'node:tls'
import { run } from '../../helpers/mqtt.js'
import { needBinary } from '../../helpers/system.js'
import { certificateCommonName, clientTlsSocket } from '../../../plugins/auth/cert-identity.js'
import { IdentityResolver } from '../../../plugins/auth/identity.js'
import { PasswordVerifier } from '../../../plugins/auth/verifier.js'
import { files } from './auth-helpers.js'

const skip = needBinary('openssl', 'openssl')
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

let dir: ReturnType<typeof files>
let server: Server
let port = 0
const accepted: TLSSocket[] = []

async function openssl (...args: string[]): Promise<void> {
  const r = await run('openssl', args)
  assert.equal(r.code, 0, r.stderr)
}

before(async () => {
  if (skip) return
  dir = files({})
  const p = dir.path
  await openssl('req', '-x509', ...EC, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '1', '-subj', '/CN=Swallow Test CA')
  for (const [name, cn] of [['server', 'localhost'], ['client', 'device-42']]) {
    await openssl('req', ...EC, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${cn}`)
    await openssl('x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p(`${name}.crt`), '-days', '1')
  }
  // Same CN, but not issued by the CA.
  await openssl('req', '-x509', ...EC, '-keyout', p('rogue.key'), '-out', p('rogue.crt'), '-days', '1', '-subj', '/CN=device-42')
  server = createServer({
    key: readFileSync(p('server.key')),
    cert: readFileSync(p('server.crt')),
    ca: readFileSync(p('ca.crt')),
    requestCert: true,
    // Unverified clients still connect, so the test can check they get no identity.
    rejectUnauthorized: false
  }, socket => { accepted.push(socket) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as { port: number }).port
})

after(async () => {
  if (skip) return
  for (const s of accepted) s.destroy()
  await new Promise(resolve => server.close(resolve))
})

/** Connects with the given client certificate; resolves the server side of the connection. */
async function serverSideOf (cert?: string): Promise<TLSSocket> {
  const before = accepted.length
  const client = tlsConnect({
    host: '127.0.0.1',
    port,
    rejectUnauthorized: false,
    ...(cert ? { key: readFileSync(dir.path(`${cert}.key`)), cert: readFileSync(dir.path(`${cert}.crt`)) } : {})
  })
  await new Promise<void>((resolve, reject) => { client.once('secureConnect', () => resolve()); client.once('error', reject) })
  for (let i = 0; i < 100 && accepted.length === before; i++) await new Promise(resolve => setTimeout(resolve, 10))
  client.destroy()
  return accepted[accepted.length - 1]
}

function resolver (allowAnonymous = false): IdentityResolver {
  return new IdentityResolver({
    passwords: () => null,
    jwt: () => null,
    verifier: new PasswordVerifier({ cacheTtlMs: 0, maxCacheEntries: 1, concurrency: 1, maxPending: 1 }),
    certIdentity: 'cn',
    allowAnonymous
  })
}

test('the CN of a certificate issued by the CA becomes the username, with no password', { skip }, async () => {
  const socket = await serverSideOf('client')
  assert.equal(certificateCommonName(socket), 'device-42')
  assert.equal(clientTlsSocket({ conn: socket }), socket, 'MQTT over TLS: client.conn')
  assert.equal(clientTlsSocket({ conn: {}, req: { socket } }), socket, 'WebSocket over TLS: client.req.socket')
  const result = await resolver().resolve(undefined, undefined, socket)
  assert.deepEqual(result, { ok: true, username: 'device-42', source: 'cert', tokenAcl: null, expiresAt: null })
  const claimed = await resolver().resolve('admin', Buffer.from('x'), socket)
  assert.ok(claimed.ok && claimed.username === 'device-42', 'the certificate wins over a claimed username')
})

test('a certificate not issued by the CA, or none, gives no identity', { skip }, async () => {
  const rogue = await serverSideOf('rogue')
  assert.equal(rogue.authorized, false)
  assert.equal(certificateCommonName(rogue), null)
  const none = await serverSideOf()
  assert.equal(certificateCommonName(none), null)
  assert.equal(certificateCommonName(null), null)
  const refused = await resolver().resolve(undefined, undefined, rogue)
  assert.ok(!refused.ok && refused.code === 5, 'anonymous refused without --allow-anonymous')
  const anon = await resolver(true).resolve(undefined, undefined, none)
  assert.ok(anon.ok && anon.username === undefined && anon.source === 'anonymous')
})
