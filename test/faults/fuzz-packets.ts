// The seeded fuzzer's packets (issue #20): well-formed MQTT 3.1.1 and 5.0 packets, mutated
// (bits flipped, bytes cut, inserted or repeated, lengths rewritten), and one short fuzz
// connection that sends them. Shared by test/faults/fuzz.test.ts and the soak's fuzz probe
// (soak/probes/fuzz.ts), with the canary run below: the same seed gives the same packets in both.
import { connect as tcpConnect, type Socket } from 'node:net'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { rng } from '../../devices/simulator/profiles.js'
import { connect, connectCollecting } from '../helpers/mqtt.js'
import { waitFor } from '../helpers/system.js'

export const PER_CONNECTION = 10

export type Random = () => number
const pick = <T>(rnd: Random, items: readonly T[]): T => items[Math.floor(rnd() * items.length)]
const int = (rnd: Random, n: number): number => Math.floor(rnd() * n)

export function connectPacket (rnd: Random, n: number, version: 4 | 5): Packet {
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

export function anyPacket (rnd: Random, version: 4 | 5): Packet {
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
export function mutate (rnd: Random, bytes: Buffer): Buffer {
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
export async function fuzzConnection (port: number, rnd: Random, n: number): Promise<void> {
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

export interface FuzzOptions {
  seed: number
  packets: number
  /** QoS 1 canary messages spread over the run. */
  canary: number
  parallel: number
}

export interface FuzzResult {
  connections: number
  /** The canary payloads (numbers) as the persistent canary subscriber got them. */
  canary: number[]
}

/**
 * Sends `packets` fuzz packets over short connections, `parallel` at a time, while a canary
 * publisher streams QoS 1 messages to a persistent canary subscriber; resolves once every
 * canary message arrived (or 10 s after the last was acknowledged).
 */
export async function runFuzz (broker: { mqttUrl: string, mqttPort: number }, opts: FuzzOptions): Promise<FuzzResult> {
  const { client: canarySub, got } = await connectCollecting(broker.mqttUrl, { clientId: 'fz-canary-sub', clean: false })
  await canarySub.subscribeAsync('canary/#', { qos: 1 })
  const canaryPub = await connect(broker.mqttUrl, { clientId: 'fz-canary-pub' })
  try {
    const rnd = rng(opts.seed)
    const connections = Math.ceil(opts.packets / PER_CONNECTION)
    let next = 0
    let canarySent = 0
    const worker = async (): Promise<void> => {
      while (next < connections) {
        const n = next++
        await fuzzConnection(broker.mqttPort, rnd, n)
        // The canary stream runs through the whole fuzz.
        if (n % Math.ceil(connections / opts.canary) === 0 && canarySent < opts.canary) await canaryPub.publishAsync(`canary/${canarySent % 3}`, String(canarySent++), { qos: 1 })
      }
    }
    await Promise.all(Array.from({ length: opts.parallel }, worker))
    while (canarySent < opts.canary) await canaryPub.publishAsync(`canary/${canarySent % 3}`, String(canarySent++), { qos: 1 })
    await waitFor(() => got.length >= opts.canary, 10_000, `${opts.canary} canary messages`).catch(() => {})
    return { connections, canary: got.map(m => Number(m.payload)) }
  } finally {
    await Promise.all([canarySub.endAsync(), canaryPub.endAsync()])
  }
}
