// Probe 3: a frozen subscriber beside five healthy ones. A QoS 1 publisher at a fixed rate,
// five MQTT.js QoS 1 subscribers, and in the "frozen" runs a raw persistent-session subscriber
// that reads and never acknowledges; Swallow with --queue-full-policy isolate and wait, and
// Mosquitto with the same clients.
import { connect as tcpConnect } from 'node:net'
import mqttPacket from 'mqtt-packet'
import { startBroker } from '../../test/helpers/broker.js'
import { connect } from '../../test/helpers/mqtt.js'
import { waitFor } from '../../test/helpers/system.js'
import { count, percentile, scaled, startMosquitto, type Probe, type SoakContext } from '../probe.js'

const HEALTHY = 5
const RATE = 1000 // messages a second
const TOPIC = 'fr/x'

interface Figures { ackP50: number, ackP99: number, p50: number, p99: number, max: number, delivered: number, expected: number }

/** A raw persistent-session subscriber that reads everything and acknowledges nothing. */
async function frozenSubscriber (port: number, clientId: string): Promise<() => void> {
  const socket = tcpConnect(port, '127.0.0.1')
  socket.on('error', () => {})
  const parser = mqttPacket.parser()
  const subacked = new Promise<void>(resolve => parser.on('packet', p => { if (p.cmd === 'suback') resolve() }))
  socket.on('data', d => parser.parse(d))
  await new Promise(resolve => socket.once('connect', resolve))
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, keepalive: 0, clientId }))
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: TOPIC, qos: 1 }] }))
  await subacked
  return () => socket.destroy()
}

async function measure (port: number, frozen: boolean, seconds: number, runId: string): Promise<Figures> {
  const url = `mqtt://127.0.0.1:${port}`
  const latencies: number[] = []
  const healthy = await Promise.all(Array.from({ length: HEALTHY }, async (_, i) => {
    const client = await connect(url, { clientId: `fr-healthy-${i}-${runId}` })
    client.on('message', (_topic, payload) => latencies.push(performance.now() - Number(payload.toString().split(' ')[1])))
    await client.subscribeAsync(TOPIC, { qos: 1 })
    return client
  }))
  const thaw = frozen ? await frozenSubscriber(port, `fr-frozen-${runId}`) : () => {}
  const pub = await connect(url, { clientId: `fr-pub-${runId}` })
  const total = RATE * seconds
  const acks: number[] = []
  const t0 = performance.now()
  for (let sent = 0; sent < total;) {
    const due = Math.min(total, Math.floor((performance.now() - t0) * RATE / 1000) + 1)
    for (; sent < due; sent++) {
      const at = performance.now()
      pub.publish(TOPIC, `${sent} ${at}`, { qos: 1 }, err => { if (!err) acks.push(performance.now() - at) })
    }
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  // With `wait` the frozen one holds everything up to --slow-client-timeout (30 s).
  await waitFor(() => acks.length >= total && latencies.length >= total * HEALTHY, 45_000, 'every PUBACK and delivery').catch(() => {})
  thaw()
  await Promise.all([...healthy, pub].map(c => c.endAsync(true)))
  return { ackP50: percentile(acks, 50), ackP99: percentile(acks, 99), p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: percentile(latencies, 100), delivered: latencies.length, expected: total * HEALTHY }
}

const ms = (n: number): string => count(Math.round(n))

export const frozenProbe: Probe = {
  id: 'frozen',
  title: 'A frozen subscriber',
  share: 0.17,
  run: async (ctx: SoakContext) => {
    const seconds = scaled(ctx, 8, 2)
    const rows: string[][] = []
    const row = (target: string, frozen: boolean, f: Figures, without?: Figures): void => {
      ctx.log(`${target}, frozen ${frozen}: PUBACK p99 ${ms(f.ackP99)} ms, healthy p99 ${ms(f.p99)} ms, ${f.delivered}/${f.expected}`)
      rows.push([target, frozen ? 'yes' : 'none', `${ms(f.ackP50)} / ${ms(f.ackP99)} ms`, `${ms(f.p50)} / ${ms(f.p99)} / ${ms(f.max)} ms`,
        without === undefined ? '' : `${(f.p99 / Math.max(1, without.p99)).toFixed(1)}x`, `${count(f.delivered)} of ${count(f.expected)}`])
    }
    for (const policy of ['isolate', 'wait'] as const) {
      const results: Figures[] = []
      for (const frozen of [false, true]) {
        const broker = await startBroker({ args: ['--queue-full-policy', policy] })
        try {
          results.push(await measure(broker.mqttPort, frozen, seconds, `${policy}-${frozen ? 'f' : 'n'}`))
        } finally {
          await broker.stop()
        }
        row(`Swallow, \`--queue-full-policy ${policy}\`${policy === 'isolate' ? ' (default)' : ''}`, frozen, results[results.length - 1], frozen ? results[0] : undefined)
      }
    }
    const results: Figures[] = []
    for (const frozen of [false, true]) {
      const mosquitto = await startMosquitto()
      try {
        results.push(await measure(mosquitto.port, frozen, seconds, `mosquitto-${frozen ? 'f' : 'n'}`))
      } finally {
        await mosquitto.stop()
      }
      row('Mosquitto 2.0.11 (defaults, max_inflight_messages 100)', frozen, results[results.length - 1], frozen ? results[0] : undefined)
    }
    return {
      title: 'A frozen subscriber',
      method: `Five healthy MQTT.js QoS 1 subscribers and a QoS 1 publisher at ${count(RATE)} msgs/s for ${seconds} s
(${count(RATE * seconds)} messages, payload = send time); in the "frozen" runs also a raw persistent-session
subscriber that reads and never acknowledges. Swallow on embedded storage with its defaults
otherwise (\`--max-inflight 100\`, \`--max-queued 1000\`, \`--slow-client-timeout 30s\`), a fresh
broker per run; Mosquitto with the same clients. Latencies are from the publish call to the
PUBACK, and to each healthy delivery; broker and clients unpinned on the shared cores.
Test: test/broker/frozen-subscriber.test.ts (embedded and Redis).`,
      tables: [{ header: ['broker', 'frozen subscriber', "publisher's PUBACK p50 / p99", 'healthy deliveries p50 / p99 / max', 'healthy p99 vs without', 'delivered to the healthy ones'], rows }],
      prose: `With \`isolate\` a persistent session whose window and queue are full has its further
messages left in its stored queue (spilled, \`swallow_queue_spilled_total\`), read back in order
and once when it acknowledges again or reconnects; the publishers are acknowledged as usual.
With \`wait\` (the behaviour before the fix) its deliveries wait, and so do the publishers'
PUBACKs and the other subscribers on its topics, until \`--slow-client-timeout\` disconnects it.
Mosquitto drops the frozen client's messages beyond \`max_queued_messages\` (1,000).`
    }
  }
}
