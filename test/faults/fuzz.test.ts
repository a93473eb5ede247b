// A seeded fuzzer (issue #20, "the suite to keep"): well-formed MQTT 3.1.1 and 5.0 packets,
// mutated (bits flipped, bytes cut, inserted or repeated, lengths rewritten), sent over many
// short connections with clean and persistent sessions, while a canary publisher streams
// QoS 1 messages to a persistent canary subscriber. The broker must stay up, and the canary
// must get every message once, in order. FUZZ_SEED and FUZZ_PACKETS replay or widen a run
// (the seed is printed).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as tcpConnect, type Socket } from 'node:net'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { rng } from '../../devices/simulator/profiles.js'
import { startBroker } from '../helpers/broker.js'
import { connectCollecting, connect } from '../helpers/mqtt.js'
import { waitFor } from '../helpers/system.js'

const SEED = Number(process.env.FUZZ_SEED ?? 20261204)
const PACKETS = Number(process.env.FUZZ_PACKETS ?? 20_000)
const PER_CONNECTION = 10
const PARALLEL = 16
const CANARY = 200

type Random = () => number
const pick = <T>(rnd: Random, items: readonly T[]): T => items[Math.floor(rnd() * items.length)]
const int = (rnd: Random, n: number): number => Math.floor(rnd() * n)

function connectPacket (rnd: Random, n: number, version: 4 | 5): Packet {
  const clean = rnd() < 0.7
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: version,
    clean,
    keepalive: pick(rnd, [0, 10, 60]),
    clientId: `fz-${clean ? 'c' : 'p'}-${n % 200}`,
    ...(rnd() < 0.2 ? { will: { topic: `fz/will/${n}`, payload: Buffer.from('w'), qos: pick(rnd, [0, 1, 2] as const), retain: false } } : {}),
    ...(version === 5 && rnd() < 0.5 ? { properties: { sessionExpiryInterval: int(rnd, 100), receiveMaximum: 1 + int(rnd, 20), topicAliasMaximum: int(rnd, 5) } } : {})
  } as Packet
}

function anyPacket (rnd: Random, version: 4 | 5): Packet {
  const messageId = 1 + int(rnd, 100)
  const topic = pick(rnd, ['fz/a', 'fz/b/c', 'fz/' + 'x'.repeat(int(rnd, 50)), '$share/g/fz/#', 'fz/+/c', '#'])
  const v5 = version === 5
  switch (int(rnd, 10)) {
    case 0: case 1: case 2: {
      const qos = pick(rnd, [0, 1, 2] as const)
      const properties = v5 && rnd() < 0.5 ? { topicAlias: 1 + int(rnd, 3), messageExpiryInterval: int(rnd, 5), userProperties: { k: 'v' }, contentType: 'text/plain' } : undefined
      return { cmd: 'publish', topic: topic.replace(/[+#]/g, 'p'), payload: Buffer.alloc(int(rnd, 200), 7), qos, retain: rnd() < 0.1, dup: false, ...(qos > 0 ? { messageId } : {}), ...(properties ? { properties } : {}) } as Packet
    }
    case 3: return { cmd: pick(rnd, ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const), messageId, ...(v5 && rnd() < 0.5 ? { reasonCode: pick(rnd, [0, 0x10, 0x80, 0x92]) } : {}) } as Packet
    case 4: case 5: return { cmd: 'subscribe', messageId, subscriptions: [{ topic, qos: pick(rnd, [0, 1, 2] as const), ...(v5 ? { nl: rnd() < 0.3, rap: rnd() < 0.3, rh: int(rnd, 3) } : {}) }], ...(v5 && rnd() < 0.3 ? { properties: { subscriptionIdentifier: 1 + int(rnd, 10) } } : {}) } as Packet
    case 6: return { cmd: 'unsubscribe', messageId, unsubscriptions: [topic] } as Packet
    case 7: return { cmd: 'pingreq' } as Packet
    case 8: return v5 ? { cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'SCRAM-SHA-512' } } as Packet : { cmd: 'pingreq' } as Packet
    default: return { cmd: 'disconnect', ...(v5 ? { reasonCode: pick(rnd, [0, 4]) } : {}) } as Packet
  }
}

/** One mutation of a packet's bytes (or none: a quarter of them go through intact). */
function mutate (rnd: Random, bytes: Buffer): Buffer {
  const b = Buffer.from(bytes)
  switch (int(rnd, 8)) {
    case 0: case 1: { // flip a few bits anywhere
      for (let i = 0, n = 1 + int(rnd, 3); i < n; i++) b[int(rnd, b.length)] ^= 1 << int(rnd, 8)
      return b
    }
    case 2: return b.subarray(0, int(rnd, b.length)) // cut short
    case 3: return Buffer.concat([b, b.subarray(0, int(rnd, b.length))]) // repeated bytes
    case 4: { // random bytes inserted
      const at = int(rnd, b.length)
      return Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + int(rnd, 8) }, () => int(rnd, 256))), b.subarray(at)])
    }
    case 5: { // the remaining length rewritten
      if (b.length > 1) b[1] = int(rnd, 256)
      return b
    }
    default: return b
  }
}

/** One fuzz connection: a CONNECT (mutated now and then), PER_CONNECTION packets, then the socket closes. */
async function fuzzConnection (port: number, rnd: Random, n: number): Promise<void> {
  const version = rnd() < 0.5 ? 4 : 5
  const chunks: Buffer[] = [rnd() < 0.1 ? mutate(rnd, mqttPacket.generate(connectPacket(rnd, n, version))) : mqttPacket.generate(connectPacket(rnd, n, version))]
  for (let i = 0; i < PER_CONNECTION; i++) chunks.push(mutate(rnd, mqttPacket.generate(anyPacket(rnd, version), { protocolVersion: version })))
  const socket: Socket = tcpConnect(port, '127.0.0.1')
  socket.on('error', () => {}) // the broker may close it at any point: that is allowed
  socket.on('data', () => {})
  await new Promise<void>(resolve => {
    socket.once('connect', () => {
      for (const chunk of chunks) socket.write(chunk)
      socket.end()
    })
    socket.once('close', () => resolve())
    // A connection the broker keeps open (a valid session that just waits) is closed here.
    setTimeout(() => socket.destroy(), 2000).unref()
  })
}

test(`seeded fuzzer: ${PACKETS.toLocaleString('en')} mutated packets (seed ${SEED}) over clean and persistent sessions; the broker stays up and a QoS 1 canary stream arrives complete, once, in order`, async () => {
  process.stdout.write(`# fuzz seed ${SEED} (replay: FUZZ_SEED=${SEED} FUZZ_PACKETS=${PACKETS})\n`)
  const broker = await startBroker()
  try {
    const { client: canarySub, got } = await connectCollecting(broker.mqttUrl, { clientId: 'fz-canary-sub', clean: false })
    await canarySub.subscribeAsync('canary/#', { qos: 1 })
    const canaryPub = await connect(broker.mqttUrl, { clientId: 'fz-canary-pub' })
    const rnd = rng(SEED)
    const connections = Math.ceil(PACKETS / PER_CONNECTION)
    let next = 0
    let canarySent = 0
    const worker = async (): Promise<void> => {
      while (next < connections) {
        const n = next++
        await fuzzConnection(broker.mqttPort, rnd, n)
        // The canary stream runs through the whole fuzz.
        if (n % Math.ceil(connections / CANARY) === 0 && canarySent < CANARY) await canaryPub.publishAsync(`canary/${canarySent % 3}`, String(canarySent++), { qos: 1 })
      }
    }
    await Promise.all(Array.from({ length: PARALLEL }, worker))
    while (canarySent < CANARY) await canaryPub.publishAsync(`canary/${canarySent % 3}`, String(canarySent++), { qos: 1 })
    await waitFor(() => got.length >= CANARY, 10_000, `${CANARY} canary messages`)
    assert.deepEqual(got.map(m => Number(m.payload)), Array.from({ length: CANARY }, (_, i) => i), 'complete, once, in order')
    const health = await (await fetch(`${broker.httpUrl}/healthz`)).json() as { status: string }
    assert.equal(health.status, 'ok')
    assert.equal(broker.proc.exitCode ?? broker.proc.signalCode, null, 'the broker process is still running')
    await Promise.all([canarySub.endAsync(), canaryPub.endAsync()])
  } finally {
    await broker.stop()
  }
})
