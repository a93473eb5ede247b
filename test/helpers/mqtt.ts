// MQTT.js clients for tests. (run(), for mosquitto_pub / mosquitto_sub, is re-exported from system.ts.)
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt'
import { waitFor } from './system.js'

export type { MqttClient }
export { run } from './system.js'

export async function connect (url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return (await connectCollecting(url, opts, false)).client
}

/**
 * Connects and collects every message from the first packet on: a persistent session's queued
 * messages can arrive in the same read as the CONNACK, before `await connect()` returns.
 */
export async function connectCollecting (url: string, opts: IClientOptions = {}, collecting = true): Promise<{ client: MqttClient, got: Received[] }> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts })
  const got = collecting ? collect(client) : []
  await connected(client, url)
  return { client, got }
}

/** connect5, collecting every PUBLISH whole from the first packet on (see connectCollecting). */
export async function connect5Collecting (url: string, opts: IClientOptions = {}): Promise<{ client: MqttClient, got: IPublishPacket[] }> {
  const client = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...opts })
  const got = collectPackets(client)
  await connected(client, url)
  return { client, got }
}

async function connected (client: MqttClient, url: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
    client.once('close', () => reject(new Error(`connection to ${url} closed before CONNACK`)))
  })
}

/** An MQTT 5 client (MQTT.js protocolVersion 5). */
export async function connect5 (url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return await connect(url, { protocolVersion: 5, ...opts })
}

/** Collects every PUBLISH the client receives, whole (MQTT 5 properties included). */
export function collectPackets (client: MqttClient): IPublishPacket[] {
  const got: IPublishPacket[] = []
  client.on('message', (_topic, _payload, packet) => got.push(packet))
  return got
}

export interface Received { topic: string, payload: string, qos: number, retain: boolean }

/** Collects every message the client receives. */
export function collect (client: MqttClient): Received[] {
  const out: Received[] = []
  client.on('message', (topic, payload, packet) => out.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }))
  return out
}

export interface PublishStream {
  /** Payloads whose PUBACK arrived. */
  acked: Set<string>
  /** Resolves when `count` were sent or the connection failed (a crash test ends it that way). */
  done: Promise<void>
}

/**
 * Publishes `count` QoS 1 messages `${prefix}${i}` with up to `window` in flight,
 * recording which were acknowledged. Stops quietly when the connection goes away.
 * `topic` may be a function of the message's number; message n waits for `hold(n)` if that gives
 * a promise (a test keeps the end of the stream back until its churn is done).
 */
export function publishStream (pub: MqttClient, topic: string | ((n: number) => string), count: number, window: number, prefix = 'm',
  hold: (n: number) => Promise<void> | undefined = () => undefined): PublishStream {
  const acked = new Set<string>()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) {
      const n = next++
      const payload = `${prefix}${n}`
      await hold(n)
      try {
        await pub.publishAsync(typeof topic === 'string' ? topic : topic(n), payload, { qos: 1 })
      } catch {
        return
      }
      acked.add(payload)
    }
  }
  return { acked, done: Promise.all(Array.from({ length: window }, worker)).then(() => {}) }
}

/**
 * Proves an absence without waiting a fixed time: publishes a sentinel on `topic` (which the
 * subscriber collecting into `got` must match) after whatever must not arrive, and waits for
 * it. A message that was going to arrive is in `got` by then. The sentinel is removed from `got`.
 */
export async function sentinel (pub: MqttClient, got: Received[], topic: string, qos: 0 | 1 | 2 = 1, timeoutMs = 10_000): Promise<void> {
  const payload = `sentinel-${Math.random().toString(36).slice(2)}`
  await pub.publishAsync(topic, payload, { qos })
  await waitFor(() => got.some(m => m.payload === payload), timeoutMs, `the sentinel on ${topic}`)
  got.splice(got.findIndex(m => m.payload === payload), 1)
}

/**
 * Publishes QoS 0 probes on `topic` until one reaches `got`: a subscription is in force where
 * `pub` publishes (another cluster node's index, for example). Later probes may still arrive:
 * keep `topic` apart from what the test counts.
 */
export async function publishUntilReceived (pub: MqttClient, got: Received[], topic: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (let i = 0; ; i++) {
    const payload = `probe-${i}`
    await pub.publishAsync(topic, payload, { qos: 0 })
    const arrived = await waitFor(() => got.some(m => m.topic === topic), 50, 'probe').then(() => true, () => false)
    if (arrived) return
    if (Date.now() > deadline) throw new Error(`no probe on ${topic} arrived within ${timeoutMs} ms: is the subscription in force?`)
  }
}
