// --verify: extra clients subscribe to the fleet's telemetry and record, per device,
// which sequence numbers came back. A confirmed (acknowledged) sequence number that never
// comes back is a lost message.
import mqtt, { type MqttClient } from 'mqtt'
import type { Device } from './device.js'
import { protocolOptions, type SimOptions } from './options.js'
import type { FleetStats } from './stats.js'

export interface Echo {
  /** Resolves when the subscription is in place. */
  ready: Promise<void>
  /** Unsubscribes (so the session keeps nothing) and disconnects. */
  close: () => Promise<void>
}

/** The echo reconnects faster than the devices (it is one client): it should be back first. */
const echoDelay = (attempt: number): number => Math.min(5000, 200 * 2 ** attempt) * (0.5 + Math.random() / 2)

/**
 * About this many messages per second per echo client. Brokers limit what they queue for one
 * subscriber (Mosquitto: 20 in flight, 1000 queued), so a busy fleet is echoed by several
 * clients, each subscribed to the exact topics of its share of the devices.
 */
const MSGS_PER_SEC_PER_ECHO = 1000
const MAX_ECHO_CLIENTS = 16
const TOPICS_PER_SUBSCRIBE = 200

export function startEcho (opts: SimOptions, devices: Map<string, Device>, stats: FleetStats,
  onError: (id: string, err: Error) => void): Echo {
  const expectedRate = opts.devices * 1000 / opts.intervalMs
  const shards = Math.min(MAX_ECHO_CLIENTS, Math.max(1, Math.ceil(expectedRate / MSGS_PER_SEC_PER_ECHO)))
  const run = Math.random().toString(36).slice(2, 10)
  const prefixLength = opts.prefix.length + 1
  const onMessage = (topic: string, payload: Buffer): void => {
    const device = devices.get(topic.slice(prefixLength, topic.length - '/telemetry'.length))
    if (!device) return // another fleet's or a real device's telemetry
    const seq = readSeq(payload)
    if (seq === undefined) return
    if (device.echoed.add(seq)) stats.echoed++
    else stats.duplicates++
  }
  const filters: string[][] = shards === 1
    ? [[`${opts.prefix}/+/telemetry`]]
    : Array.from({ length: shards }, (_, k) => [...devices.keys()].filter((_id, i) => i % shards === k).map(id => `${opts.prefix}/${id}/telemetry`))
  const clients = filters.map((f, k) => startEchoClient(opts, `${opts.idPrefix}-verify-${run}-${k}`, f, onMessage, onError))
  const ready = Promise.all(clients.map(c => c.ready)).then(() => {})
  ready.catch(() => {}) // the fleet awaits it; this only keeps an early failure from being unhandled
  return { ready, close: async () => { await Promise.all(clients.map(c => c.close())) } }
}

function startEchoClient (opts: SimOptions, clientId: string, filters: string[],
  onMessage: (topic: string, payload: Buffer) => void, onError: (id: string, err: Error) => void): Echo {
  // A persistent session, so messages published while the echo reconnects are queued, not missed.
  const client: MqttClient = mqtt.connect(opts.url, {
    clientId,
    clean: false,
    ...protocolOptions(opts, true),
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    resubscribe: false,
    username: opts.username,
    password: opts.password,
    ca: opts.ca,
    rejectUnauthorized: !opts.insecure
  })
  let closing = false
  let attempt = 0
  let timer: NodeJS.Timeout | null = null
  const subscribeAll = async (): Promise<void> => {
    for (let i = 0; i < filters.length; i += TOPICS_PER_SUBSCRIBE) {
      await client.subscribeAsync(filters.slice(i, i + TOPICS_PER_SUBSCRIBE), { qos: opts.qos })
    }
  }

  const ready = new Promise<void>((resolve, reject) => {
    client.on('connect', connack => {
      attempt = 0
      if (connack.sessionPresent) return resolve()
      subscribeAll().then(resolve, reject)
    })
    client.on('error', err => {
      if (!closing) onError(clientId, err)
      if (attempt === 0 && !client.connected) reject(err)
    })
  })
  ready.catch(() => {})

  client.on('close', () => {
    if (closing || timer) return
    timer = setTimeout(() => {
      timer = null
      if (!closing) client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore })
    }, echoDelay(attempt++))
  })
  client.on('message', onMessage)

  return {
    ready,
    close: async () => {
      closing = true
      if (timer) clearTimeout(timer)
      // Unsubscribe so that the session left on the broker queues nothing more. Bounded:
      // an UNSUBACK lost with the connection would never resolve.
      const unsubscribe = async (): Promise<void> => {
        for (let i = 0; i < filters.length && client.connected; i += TOPICS_PER_SUBSCRIBE) {
          await client.unsubscribeAsync(filters.slice(i, i + TOPICS_PER_SUBSCRIBE)).catch(() => {})
        }
      }
      let limit: NodeJS.Timeout | undefined
      await Promise.race([unsubscribe(), new Promise(resolve => { limit = setTimeout(resolve, 3000) })])
      clearTimeout(limit)
      await new Promise<void>(resolve => {
        const t = setTimeout(() => { client.stream?.destroy(); resolve() }, 3000)
        client.end(!client.connected, () => { clearTimeout(t); resolve() })
      })
    }
  }
}

/** Reads "seq":N from our own payload format without JSON.parse. */
function readSeq (payload: Buffer): number | undefined {
  const at = payload.indexOf('"seq":')
  if (at === -1) return undefined
  let n = 0
  let digits = 0
  for (let i = at + 6; i < payload.length && digits < 16; i++, digits++) {
    const c = payload[i]
    if (c < 48 || c > 57) break
    n = n * 10 + (c - 48)
  }
  return digits > 0 ? n : undefined
}
