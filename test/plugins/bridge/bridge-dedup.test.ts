// QoS 1 retransmissions (same client, same packet id, DUP set) are not appended twice;
// QoS 2 lands exactly once; a reused packet id (no DUP) is a new record; a retransmission
// is acknowledged only once the original is stored.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import mqttPacket from 'mqtt-packet'
import { openLog } from '../../../plugins/bridge/log/index.js'
import { startBroker } from '../../helpers/broker.js'
import { connect } from '../../helpers/mqtt.js'
import { rawSession, type RawSession } from '../../helpers/raw.js'
import { needRedis, startRedis } from '../../helpers/redis.js'
import { sleep, waitFor } from '../../helpers/system.js'

const ARGS = ['--bridge-rule', 'sensors/#=telemetry:durable', '--sys-interval', 'off']

const rawClient = async (port: number, clientId: string): Promise<RawSession> => await rawSession(port, clientId, false)

const publish = (messageId: number, payload: string, dup: boolean, qos: 1 | 2 = 1): Buffer =>
  mqttPacket.generate({ cmd: 'publish', topic: 'sensors/d', payload, qos, messageId, dup, retain: false })

async function payloads (dataDir: string): Promise<string[]> {
  const log = openLog(dataDir)
  const out: string[] = []
  for await (const r of log.stream('telemetry').records()) out.push(r.payload.toString())
  await log.close()
  return out
}

test('a QoS 1 retransmission with DUP during the store waits for it and is not appended twice; a reused id is new', async () => {
  const broker = await startBroker({ args: ARGS })
  try {
    const a = await rawClient(broker.mqttPort, 'dup-1')
    // the retransmission arrives while the first is still being stored
    a.socket.write(Buffer.concat([publish(5, 'first', false), publish(5, 'first', true)]))
    await waitFor(() => a.received.filter(p => p.cmd === 'puback').length === 2, 5000, 'two PUBACKs')
    // answered: the id is free again, a new message may reuse it
    a.socket.write(publish(5, 'second', false))
    await waitFor(() => a.received.filter(p => p.cmd === 'puback').length === 3, 5000, 'third PUBACK')

    a.socket.destroy()
    assert.deepEqual(await payloads(broker.dataDir), ['first', 'second'])
  } finally {
    await broker.stop()
  }
})

test('the connection drops while the record is stored: the retransmission is acknowledged once stored, appended once', { skip: needRedis() }, async () => {
  // A Redis store paused with CLIENT PAUSE WRITE holds the append, so the connection is
  // certainly gone before the PUBACK could be written (on the embedded store it is a race).
  const redis = await startRedis()
  const broker = await startBroker({ args: ['--bridge-rule', 'sensors/#=telemetry:durable:redis', '--redis-url', redis.url, '--sys-interval', 'off'] })
  const r = new Redis(redis.url)
  try {
    const a = await rawClient(broker.mqttPort, 'dup-lost')
    a.socket.write(publish(4, 'before', false))
    await waitFor(() => a.received.some(p => p.cmd === 'puback'), 5000, 'first PUBACK')
    await r.client('PAUSE', 1500, 'WRITE')
    const pausedAt = Date.now()
    a.socket.write(publish(9, 'lost-ack', false))
    await sleep(100)
    a.socket.resetAndDestroy()
    const b = await rawClient(broker.mqttPort, 'dup-lost')
    b.socket.write(publish(9, 'lost-ack', true))
    await waitFor(() => b.received.some(p => p.cmd === 'puback'), 10_000, 'PUBACK of the retransmission')
    assert.ok(Date.now() - pausedAt >= 1400, 'the retransmission is acknowledged only after the original is stored')
    b.socket.write(publish(9, 'reused-id', false))
    await waitFor(() => b.received.filter(p => p.cmd === 'puback').length === 2, 5000, 'PUBACK of the reused id')
    b.socket.destroy()
    const entries = await r.xrange('swallow:log:telemetry', '-', '+')
    assert.deepEqual(entries.map(([, f]) => f[f.indexOf('payload') + 1]), ['before', 'lost-ack', 'reused-id'])
  } finally {
    r.disconnect()
    await broker.stop()
    await redis.stop()
  }
})

test('QoS 2 lands exactly once, also when the PUBLISH is retransmitted before PUBREL', async () => {
  const broker = await startBroker({ args: ARGS })
  try {
    const a = await rawClient(broker.mqttPort, 'dup-2')
    a.socket.write(publish(11, 'exactly-once', false, 2))
    await waitFor(() => a.received.some(p => p.cmd === 'pubrec'), 5000, 'PUBREC')
    a.socket.write(publish(11, 'exactly-once', true, 2))
    await waitFor(() => a.received.filter(p => p.cmd === 'pubrec').length === 2, 5000, 'second PUBREC')
    a.socket.write(mqttPacket.generate({ cmd: 'pubrel', messageId: 11 }))
    await waitFor(() => a.received.some(p => p.cmd === 'pubcomp'), 5000, 'PUBCOMP')
    a.socket.destroy()
    const client = await connect(broker.mqttUrl)
    await client.publishAsync('sensors/d', 'mqttjs-qos2', { qos: 2 })
    await client.endAsync()
    assert.deepEqual(await payloads(broker.dataDir), ['exactly-once', 'mqttjs-qos2'])
  } finally {
    await broker.stop()
  }
})
