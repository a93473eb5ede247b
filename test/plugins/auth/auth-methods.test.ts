// MQTT 5 extended authentication against a real broker: SCRAM-SHA-512 from a password file
// written by mosquitto_passwd (MQTT.js runs the AUTH exchange; the SCRAM client is written
// from the RFC in test/helpers/scram-client.ts), JWT in the Authentication Data with
// re-authentication, and the protocol errors around AUTH (raw packets).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { IAuthPacket, IConnackPacket, IDisconnectPacket } from 'mqtt-packet'
import { SignJWT } from 'jose'
import { startBroker, type BrokerProcess } from '../../helpers/broker.js'
import { raw5, rawMqtt, reasonOf, stillUp, type Raw5 } from '../../helpers/raw5.js'
import { ScramClient } from '../../helpers/scram-client.js'
import { needBinary, run, waitFor } from '../../helpers/system.js'
import { files, subscribeCodes } from './auth-helpers.js'

const SCRAM = 'SCRAM-SHA-512'
const skip = needBinary('mosquitto_passwd', 'mosquitto')

type Outcome = { client: MqttClient, connack: IConnackPacket, scram: ScramClient } | { code: number }

/** Connects with MQTT.js running the SCRAM exchange; the CONNACK, or the refusal's reason code. */
async function scramConnect (url: string, username: string, password: string, opts: IClientOptions = {}): Promise<Outcome> {
  const scram = new ScramClient(username, password)
  const client = mqtt.connect(url, {
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    properties: { authenticationMethod: SCRAM, authenticationData: Buffer.from(scram.clientFirst) },
    ...opts
  })
  client.handleAuth = (packet, callback) => {
    const serverFirst = packet.properties?.authenticationData?.toString() ?? ''
    callback(undefined, { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: SCRAM, authenticationData: Buffer.from(scram.final(serverFirst)) } })
  }
  return await new Promise(resolve => {
    client.once('connect', connack => resolve({ client, connack, scram }))
    client.once('error', err => { client.end(true); resolve({ code: (err as { code?: number }).code ?? -1 }) })
  })
}

function connected (outcome: Outcome): { client: MqttClient, connack: IConnackPacket, scram: ScramClient } {
  if ('code' in outcome) assert.fail(`refused with reason code 0x${outcome.code.toString(16)}`)
  return outcome
}

describe('SCRAM-SHA-512 over a mosquitto_passwd file', { skip }, () => {
  let broker: BrokerProcess
  before(async () => {
    const f = files({ acl: 'user alice\ntopic readwrite alice/#\n' })
    const passwd = f.path('passwd')
    assert.equal((await run('mosquitto_passwd', ['-c', '-b', passwd, 'alice', 'secret'])).code, 0)
    assert.equal((await run('mosquitto_passwd', ['-H', 'sha512', '-b', passwd, 'bob', 'hunter2'])).code, 0)
    broker = await startBroker({ storage: 'memory', args: ['--password-file', passwd, '--acl-file', f.path('acl'), '--auth-max-failures', '0', '--connect-timeout', '1s'] })
  })
  after(async () => { await broker.stop() })

  test('the right password connects without sending it; the server proves it knows it too, and the ACL applies to the user', async () => {
    const { client, connack, scram } = connected(await scramConnect(broker.mqttUrl, 'alice', 'secret'))
    assert.equal(connack.properties?.authenticationMethod, SCRAM)
    assert.ok(scram.verifiesServer(connack.properties?.authenticationData?.toString() ?? ''), 'server-final carries the server signature')
    assert.deepEqual(await subscribeCodes(client, ['alice/in', 'bob/in']), [1, 0x87])
    client.end(true)
  })

  test('a wrong password, an unknown user and a $6$ entry get CONNACK 0x86; an unknown user is offered the same salt on every try', async () => {
    assert.deepEqual(await scramConnect(broker.mqttUrl, 'alice', 'wrong'), { code: 0x86 })
    assert.deepEqual(await scramConnect(broker.mqttUrl, 'mallory', 'x'), { code: 0x86 })
    assert.deepEqual(await scramConnect(broker.mqttUrl, 'bob', 'hunter2'), { code: 0x86 })
    await waitFor(() => broker.logs.some(l => l.level === 40 && /\$6\$ hash/.test(String(l.msg)) && l.username === 'bob'), 5000, 'a warning naming the $6$ entry')
    const salts: string[] = []
    for (let i = 0; i < 2; i++) {
      const c = await rawMqtt(broker.mqttPort, 5, { properties: { authenticationMethod: SCRAM, authenticationData: Buffer.from(new ScramClient('mallory', 'x').clientFirst) } }, 'auth')
      const auth = c.received[0] as IAuthPacket
      assert.equal(auth.reasonCode, 0x18)
      salts.push(/s=([^,]+)/.exec(auth.properties?.authenticationData?.toString() ?? '')?.[1] ?? '')
      c.socket.destroy()
    }
    assert.equal(salts[0], salts[1])
  })

  test('a method nobody implements gets 0x8C; AUTH without a method in CONNECT, or 0x18 with no exchange, is a protocol error (0x82); a stalled exchange is closed after --connect-timeout', async () => {
    const kerberos = await raw5(broker.mqttPort, { properties: { authenticationMethod: 'GS2-KRB5' } })
    assert.equal(reasonOf(kerberos.received[0]), 0x8c)

    const plain = await raw5(broker.mqttPort, { username: 'alice', password: Buffer.from('secret') })
    assert.equal(reasonOf(plain.received[0]), 0)
    plain.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: SCRAM } })
    await closedWith(plain, 0x82)

    const stalled = await rawMqtt(broker.mqttPort, 5, { properties: { authenticationMethod: SCRAM, authenticationData: Buffer.from(new ScramClient('alice', 'secret').clientFirst) } }, 'auth')
    await waitFor(() => stalled.closed(), 5000, 'the stalled exchange to be closed')
    assert.ok(!stalled.received.some(p => p.cmd === 'connack'))
  })
})

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'
const token = async (sub: string, expiresIn: number): Promise<Buffer> =>
  Buffer.from(await new SignJWT({ sub, exp: Math.floor(Date.now() / 1000) + expiresIn }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET)))

async function closedWith (c: Raw5, reasonCode: number): Promise<void> {
  const disconnect = await c.next(p => p.cmd === 'disconnect', 'DISCONNECT') as IDisconnectPacket
  assert.equal(disconnect.reasonCode, reasonCode)
  await waitFor(() => c.closed(), 5000, 'the close')
}

describe('JWT as an MQTT 5 authentication method', () => {
  let broker: BrokerProcess
  before(async () => {
    broker = await startBroker({ storage: 'memory', args: ['--jwt-secret', SECRET, '--auth-max-failures', '0'] })
  })
  after(async () => { await broker.stop() })

  test('the token in the Authentication Data connects; a bad one gets 0x86', async () => {
    const good = await raw5(broker.mqttPort, { properties: { authenticationMethod: 'JWT', authenticationData: await token('dev1', 600) } })
    const connack = good.received[0] as IConnackPacket
    assert.equal(connack.reasonCode, 0, connack.properties?.reasonString)
    assert.equal(connack.properties?.authenticationMethod, 'JWT')
    good.socket.destroy()
    const bad = await raw5(broker.mqttPort, { properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from('eyJhbGciOiJub25lIn0.e30.') } })
    assert.equal(reasonOf(bad.received[0]), 0x86)
  })

  test('re-authenticating with a fresh token (AUTH 0x19 -> AUTH 0x00) keeps the connection past the first token\'s expiry; a bad token ends it with DISCONNECT 0x87', async () => {
    const first = await token('dev2', 2)
    const renewed = await raw5(broker.mqttPort, { clientId: 'renewed', properties: { authenticationMethod: 'JWT', authenticationData: first } })
    // Same token, never renewed: its disconnect is the sign that the expiry has passed.
    const sentinel = await raw5(broker.mqttPort, { clientId: 'sentinel', properties: { authenticationMethod: 'JWT', authenticationData: first } })
    renewed.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'JWT', authenticationData: await token('dev2', 600) } })
    const answer = await renewed.next(p => p.cmd === 'auth', 'AUTH') as IAuthPacket
    assert.equal(answer.reasonCode, 0)
    assert.equal(answer.properties?.authenticationMethod, 'JWT')
    await waitFor(() => sentinel.closed(), 10_000, 'the never-renewed connection to be closed at its token\'s expiry')
    await stillUp(renewed)

    renewed.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from('not-a-token') } })
    await closedWith(renewed, 0x87)
  })
})
