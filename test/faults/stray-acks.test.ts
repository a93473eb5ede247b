// A client that acknowledges a packet id the broker never used costs at most its own
// connection, never the process (issue #20, critical 1). Found by a fault probe: a stray
// PUBREC from a persistent subscriber, arriving while its real acknowledgements were being
// stored, left a storage rejection unhandled and the broker exited. Each ack type, each
// storage mode, clean and persistent sessions, under a live QoS 1 stream.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqttPacket from 'mqtt-packet'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { connect, publishStream } from '../helpers/mqtt.js'
import { rawSession, type RawSession } from '../helpers/raw.js'
import { needRedis, startRedis } from '../helpers/redis.js'
import { waitFor } from '../helpers/system.js'

const ACKS = ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const
type Ack = typeof ACKS[number]
const STRAY_ID = 65_000 // far above the ids a 1,000-message stream uses
const MESSAGES = 1000

interface Prober { ack: Ack, clean: boolean, session: RawSession, delivered: number, closed: boolean }

/** A raw subscriber that acknowledges every delivery and, after the 200th, sends one stray `ack`. */
async function prober (broker: BrokerProcess, ack: Ack, clean: boolean, n: number): Promise<Prober> {
  const session = await rawSession(broker.mqttPort, `stray-${ack}-${clean ? 'clean' : 'persistent'}-${n}`, clean)
  const p: Prober = { ack, clean, session, delivered: 0, closed: false }
  session.socket.on('close', () => { p.closed = true })
  const parser = mqttPacket.parser()
  session.socket.on('data', d => parser.parse(d))
  parser.on('packet', packet => {
    if (packet.cmd !== 'publish' || p.closed) return
    p.delivered++
    session.socket.write(mqttPacket.generate({ cmd: 'puback', messageId: packet.messageId }))
    if (p.delivered === 200) session.socket.write(mqttPacket.generate({ cmd: ack, messageId: STRAY_ID }))
  })
  session.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'r/#', qos: 1 }] }))
  await waitFor(() => session.received.some(r => r.cmd === 'suback'), 5000, 'SUBACK')
  return p
}

async function strayAcksLeaveTheBrokerUp (broker: BrokerProcess): Promise<void> {
  const probers: Prober[] = []
  for (const ack of ACKS) {
    for (const clean of [true, false]) {
      // Two of each: the race needs the stray to arrive while real acknowledgements are stored.
      for (const n of [1, 2]) probers.push(await prober(broker, ack, clean, n))
    }
  }
  const pub = await connect(broker.mqttUrl, { clientId: 'stray-publisher' })
  const stream = publishStream(pub, 'r/x', MESSAGES, 50)
  const crashed = new Promise<never>((_resolve, reject) => broker.proc.once('exit', code =>
    reject(new Error(`the broker exited (${code}): ${JSON.stringify(broker.logs.filter(l => l.level === 60))}`))))
  await Promise.race([stream.done, crashed])
  assert.equal(stream.acked.size, MESSAGES, 'the publisher got every PUBACK: the broker stayed up')
  // Every prober either got the whole stream or lost only its own connection.
  await waitFor(() => probers.every(p => p.closed || p.delivered >= MESSAGES), 10_000, 'every prober served or closed')
  const canary = await connect(broker.mqttUrl, { clientId: 'stray-canary' })
  await canary.publishAsync('r/canary', 'alive', { qos: 1 })
  await canary.endAsync()
  await pub.endAsync()
  for (const p of probers) p.session.socket.destroy()
  assert.equal(broker.proc.exitCode, null, 'the broker process is still running')
  assert.ok(!broker.logs.some(l => l.msg === 'uncaught exception; exiting'), 'no uncaught exception was logged')
}

for (const storage of ['embedded', 'memory'] as const) {
  test(`a stray PUBACK, PUBREC, PUBREL or PUBCOMP costs at most its own connection (${storage} storage)`, async () => {
    const broker = await startBroker({ storage })
    try {
      await strayAcksLeaveTheBrokerUp(broker)
    } finally {
      await broker.stop()
    }
  })
}

test('a stray PUBACK, PUBREC, PUBREL or PUBCOMP costs at most its own connection (redis storage)', { skip: needRedis() }, async () => {
  const redis = await startRedis()
  const broker = await startBroker({ storage: 'redis', redisUrl: redis.url })
  try {
    await strayAcksLeaveTheBrokerUp(broker)
  } finally {
    await broker.stop()
    await redis.stop()
  }
})
