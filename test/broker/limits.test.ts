// Connection limits and bad input: each closes or refuses that one connection with the
// right code, and the broker keeps serving others.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as tcpConnect, type Socket } from 'node:net'
import mqttPacket from 'mqtt-packet'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { collect, connect } from '../helpers/mqtt.js'
import { raw5, reasonOf } from '../helpers/raw5.js'
import { waitFor } from '../helpers/system.js'

let broker: BrokerProcess
before(async () => {
  broker = await startBroker({ args: ['--connect-timeout', '1500ms', '--max-packet-size', '1KiB', '--max-connections', '5', '--storage', 'memory'] })
})
after(async () => { await broker.stop() })

function rawSocket (): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect(broker.mqttPort, '127.0.0.1', () => resolve(s))
    s.once('error', reject)
  })
}

/** Sends a CONNECT on a raw socket and resolves the CONNACK return code (or 'closed'). */
async function connack (connect: Partial<mqttPacket.IConnectPacket> | Buffer): Promise<number | 'closed'> {
  const socket = await rawSocket()
  const parser = mqttPacket.parser()
  const result = new Promise<number | 'closed'>(resolve => {
    parser.on('packet', p => { if (p.cmd === 'connack') resolve(p.returnCode ?? -1) })
    socket.on('data', d => parser.parse(d))
    socket.on('close', () => resolve('closed'))
  })
  socket.write(Buffer.isBuffer(connect) ? connect : mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId: 'x', ...connect } as mqttPacket.IConnectPacket))
  const code = await result
  socket.destroy()
  return code
}

test('a socket that sends no CONNECT is closed after --connect-timeout', async () => {
  const socket = await rawSocket()
  const started = Date.now()
  await new Promise(resolve => socket.once('close', resolve))
  const elapsed = Date.now() - started
  assert.ok(elapsed >= 1400 && elapsed < 6000, `closed after ${elapsed} ms`)
})

test('client id length: 128 accepted, 129 refused with CONNACK 0x02', async () => {
  assert.equal(await connack({ clientId: 'c'.repeat(128) }), 0)
  assert.equal(await connack({ clientId: 'c'.repeat(129) }), 2)
})

test('a zero-byte client id with clean session 0 gets CONNACK 0x02 (MQTT-3.1.3-8)', async () => {
  // Built by hand: mqtt-packet refuses to generate this CONNECT.
  const emptyIdPersistent = Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x00, 0, 30, 0, 0])
  assert.equal(await connack(emptyIdPersistent), 2)
  assert.equal(await connack({ clientId: '', clean: true }), 0)
})

test('a packet over --max-packet-size closes that connection only', async () => {
  const healthy = await connect(broker.mqttUrl)
  const big = await connect(broker.mqttUrl)
  try {
    const got = collect(healthy)
    await healthy.subscribeAsync('limits/#', { qos: 1 })
    const closed = new Promise<void>(resolve => big.once('close', () => resolve()))
    big.publish('limits/big', Buffer.alloc(4096))
    await closed
    await healthy.publishAsync('limits/ok', 'still here', { qos: 1 })
    await waitFor(() => got.some(m => m.topic === 'limits/ok'), 3000, 'the healthy client keeps working')
    assert.ok(!got.some(m => m.topic === 'limits/big'))
  } finally {
    big.end(true)
    await healthy.endAsync()
  }
})

test('garbage bytes close that connection while a QoS 1 stream on another carries on', async () => {
  const sub = await connect(broker.mqttUrl)
  const pub = await connect(broker.mqttUrl)
  try {
    const got = collect(sub)
    await sub.subscribeAsync('stream/#', { qos: 1 })
    const garbage = await rawSocket()
    const closed = new Promise(resolve => garbage.once('close', resolve))
    garbage.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01]))
    for (let i = 0; i < 100; i++) await pub.publishAsync('stream/x', `m${i}`, { qos: 1 })
    await closed
    await waitFor(() => got.length === 100, 5000, '100 messages')
  } finally {
    await Promise.all([sub.endAsync(), pub.endAsync()])
  }
})

test('--max-connections: the next client gets CONNACK 0x03 (MQTT 5: 0x97 quota exceeded)', async () => {
  const clients = []
  try {
    for (let i = 0; i < 5; i++) clients.push(await connect(broker.mqttUrl, { clientId: `full-${i}` }))
    assert.equal(await connack({ clientId: 'one-too-many' }), 3)
    const v5 = await raw5(broker.mqttPort, { clientId: 'one-too-many-v5' })
    assert.equal(reasonOf(v5.received[0]), 0x97)
  } finally {
    await Promise.all(clients.map(c => c.endAsync()))
  }
})

test('--max-sessions: a CONNECT that would store one more session gets CONNACK 3 (MQTT 5: 0x97); stored sessions resume, clean ones connect, counted', async () => {
  const limited = await startBroker({ args: ['--max-sessions', '3'] })
  try {
    for (let i = 0; i < 3; i++) await (await connect(limited.mqttUrl, { clientId: `kept-${i}`, clean: false })).endAsync()
    const code = async (clientId: string, clean: boolean): Promise<number | 'closed'> => {
      const socket = tcpConnect(limited.mqttPort, '127.0.0.1')
      const parser = mqttPacket.parser()
      const answer = new Promise<number | 'closed'>(resolve => {
        parser.on('packet', p => { if (p.cmd === 'connack') resolve(p.returnCode ?? -1) })
        socket.on('close', () => resolve('closed'))
      })
      socket.on('data', d => parser.parse(d))
      socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean, keepalive: 30, clientId }))
      const result = await answer
      socket.destroy()
      return result
    }
    assert.equal(await code('fourth', false), 3, 'a fourth stored session is refused')
    const v5 = await raw5(limited.mqttPort, { clientId: 'fourth-v5', clean: false, properties: { sessionExpiryInterval: 60 } })
    assert.equal(reasonOf(v5.received[0]), 0x97)
    assert.equal(await code('kept-1', false), 0, 'a stored session resumes')
    assert.equal(await code('clean-one', true), 0, 'a clean session connects')
    const metrics = await (await fetch(`${limited.httpUrl}/metrics`)).text()
    assert.match(metrics, /^swallow_sessions_refused_total 2$/m)
  } finally {
    await limited.stop()
  }
})

test('--max-client-id-length below the generated id\'s length still accepts an empty client id (clean session)', async () => {
  const short = await startBroker({ storage: 'memory', args: ['--max-client-id-length', '8'] })
  try {
    const socket = tcpConnect(short.mqttPort, '127.0.0.1')
    const parser = mqttPacket.parser()
    const code = new Promise<number | undefined>(resolve => parser.on('packet', p => { if (p.cmd === 'connack') resolve(p.returnCode) }))
    socket.on('data', d => parser.parse(d))
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId: '' }))
    assert.equal(await code, 0, 'the generated id is not held to the limit')
    socket.destroy()
    const long = await connect(short.mqttUrl, { clientId: 'c'.repeat(8) })
    await long.endAsync()
  } finally {
    await short.stop()
  }
})
