// Probe 6: resource bombs. Hundreds of sockets each holding a ~1 MB unfinished PUBLISH (Swallow
// and Mosquitto); one session subscribing to thousands of filters; a persistent subscriber that
// never acknowledges while a publisher queues QoS 1 messages for it, then reconnects and takes
// them all.
import { connect as tcpConnect } from 'node:net'
import mqttPacket, { type ISubackPacket } from 'mqtt-packet'
import { startBroker } from '../../test/helpers/broker.js'
import { connect, connectCollecting } from '../../test/helpers/mqtt.js'
import { rawSession } from '../../test/helpers/raw.js'
import { waitFor } from '../../test/helpers/system.js'
import { alive, count, healthz, metric, mib, rssMiB, scaled, startMosquitto, timeLeft, type Probe, type SoakContext, type Table } from '../probe.js'

const ANNOUNCED = 1_040_000 // under the default --max-packet-size (1 MiB)
const SENT = 1_000_000
const HOLD_MS = 8000

/** Keep-alive-0 clients that each send SENT bytes of a PUBLISH announcing ANNOUNCED; resolves when all were written (or closed). */
async function partialPublishers (port: number, sockets: number): Promise<{ closed: () => number, destroy: () => void }> {
  const all = await Promise.all(Array.from({ length: sockets }, (_, i) => new Promise<{ destroy: () => void, closed: () => boolean }>(resolve => {
    const socket = tcpConnect(port, '127.0.0.1')
    let closed = false
    const handle = { destroy: () => socket.destroy(), closed: () => closed }
    socket.on('error', () => {})
    socket.resume() // consume the CONNACK, or the close is never seen
    socket.on('close', () => { closed = true; resolve(handle) })
    socket.once('connect', () => {
      const c = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: `bomb-${i}` })
      const header = Buffer.from([0x30, (ANNOUNCED & 0x7f) | 0x80, ((ANNOUNCED >> 7) & 0x7f) | 0x80, ANNOUNCED >> 14, 0, 1, 0x70])
      socket.write(Buffer.concat([c, header, Buffer.alloc(SENT - 3)]), () => resolve(handle))
    })
  })))
  return { closed: () => all.filter(s => s.closed()).length, destroy: () => { for (const s of all) s.destroy() } }
}

async function partialRow (label: string, port: number, pid: number | undefined, sockets: number, extra: () => Promise<string>): Promise<string[]> {
  const before = rssMiB(pid)
  const held = await partialPublishers(port, sockets)
  const rssHeld = rssMiB(pid)
  await waitFor(() => held.closed() === sockets, HOLD_MS, 'every partial publisher closed').catch(() => {})
  const row = [label, count(sockets), `${count(held.closed())} of ${count(sockets)}`, `${mib(before)} → ${mib(rssHeld)} → ${mib(rssMiB(pid))}`, await extra()]
  held.destroy()
  return row
}

async function partialPackets (ctx: SoakContext): Promise<Table> {
  const sockets = scaled(ctx, 300, 30)
  const broker = await startBroker({ storage: 'memory', args: ['--partial-packet-timeout', '5s'] })
  const rows: string[][] = []
  try {
    rows.push(await partialRow('Swallow (`--max-buffered-bytes 128MiB`, the default; `--partial-packet-timeout 5s`)', broker.mqttPort, broker.proc.pid, sockets, async () =>
      `at once (buffered_bytes_limit) ${await metric(broker, 'swallow_connection_errors_total{reason="buffered_bytes_limit"}')}, after the timeout (partial_packet_timeout) ${await metric(broker, 'swallow_connection_errors_total{reason="partial_packet_timeout"}')}`))
  } finally { await broker.stop() }
  const mosquitto = await startMosquitto()
  try {
    rows.push(await partialRow('Mosquitto 2.0.11 (defaults)', mosquitto.port, mosquitto.pid, sockets, async () => '—'))
  } finally { await mosquitto.stop() }
  ctx.log(`partial packets: ${rows.map(r => r[2]).join(' / ')} closed`)
  return { header: [`~1 MB unfinished PUBLISH, keep alive 0`, 'sockets', `closed within ${HOLD_MS / 1000} s`, 'RSS before → held → after', 'counted'], rows }
}

async function subscribeBombs (ctx: SoakContext): Promise<Table> {
  const broker = await startBroker({ args: ['--max-subscriptions-per-client', '25000'] })
  const rows: string[][] = []
  try {
    const bomb = async (label: string, clientId: string, total: number, perPacket: number): Promise<void> => {
      const session = await rawSession(broker.mqttPort, clientId, false)
      const before = rssMiB(broker.proc.pid)
      const t0 = Date.now()
      let granted = 0
      for (let first = 0, id = 1; first < total; first += perPacket, id++) {
        session.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: id, subscriptions: Array.from({ length: Math.min(perPacket, total - first) }, (_, i) => ({ topic: `${clientId}/${first + i}`, qos: 1 as const })) }))
        const suback = await waitFor(() => session.received.find(p => p.cmd === 'suback' && p.messageId === id), 120_000, 'SUBACK') as ISubackPacket
        granted += suback.granted.filter(g => g === 1).length
      }
      const ms = Date.now() - t0
      // Another client connects while the session holds them all.
      const c0 = Date.now()
      const other = await connect(broker.mqttUrl)
      const otherMs = Date.now() - c0
      await other.endAsync()
      session.socket.destroy()
      ctx.log(`${label}: ${ms} ms`)
      rows.push([label, `${count(granted)} of ${count(total)}`, `${count(ms)} ms`, `${mib(before)} → ${mib(rssMiB(broker.proc.pid))}`, `${otherMs} ms`])
    }
    await bomb('one SUBSCRIBE with 5,000 filters', 'sb5k', 5000, 5000)
    await bomb('20,000 filters in SUBSCRIBEs of 500', 'sb20k', 20_000, 500)
  } finally { await broker.stop() }
  return { header: ['persistent session (embedded, `--max-subscriptions-per-client 25000`)', 'granted', 'time to the last SUBACK', 'RSS before → after', 'a new client connects after'], rows }
}

async function queueBomb (ctx: SoakContext): Promise<Table> {
  const target = scaled(ctx, 1_000_000, 5000)
  const broker = await startBroker({ args: [] })
  try {
    const frozen = await rawSession(broker.mqttPort, 'qb-sub', false)
    frozen.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'qb/#', qos: 1 }] }))
    await waitFor(() => frozen.received.some(p => p.cmd === 'suback'), 5000, 'SUBACK')
    const before = rssMiB(broker.proc.pid)
    const pub = await connect(broker.mqttUrl, { clientId: 'qb-pub' })
    // Draining (acknowledging, read back from storage) is about six times slower than queueing here.
    const until = Date.now() + Math.max(3000, timeLeft(ctx) * 0.12)
    let next = 0
    let acked = 0
    const t0 = Date.now()
    const worker = async (): Promise<void> => {
      while (next < target && Date.now() < until) {
        await pub.publishAsync('qb/x', String(next++), { qos: 1 })
        acked++
      }
    }
    await Promise.all(Array.from({ length: 100 }, worker))
    const pubSeconds = (Date.now() - t0) / 1000
    const rssQueued = rssMiB(broker.proc.pid)
    const wasAlive = alive(broker) && (await healthz(broker)).startsWith('200')
    await pub.endAsync()
    frozen.socket.destroy()
    ctx.log(`queue bomb: ${acked} acknowledged in ${pubSeconds.toFixed(0)} s; draining`)
    const d0 = Date.now()
    const { client: back, got } = await connectCollecting(broker.mqttUrl, { clientId: 'qb-sub', clean: false })
    await waitFor(() => got.length >= acked, Math.max(10_000, timeLeft(ctx) - 3000), 'the queued messages').catch(() => {})
    const drainSeconds = (Date.now() - d0) / 1000
    await back.endAsync()
    const distinct = new Set(got.map(m => m.payload)).size
    return {
      header: ['never-acknowledging persistent subscriber (embedded)', 'queued', 'publisher throughput', 'RSS before → queued', 'broker alive, /healthz', 'after reconnecting and acknowledging'],
      rows: [[`QoS 1, 100 in flight from one publisher`, `${count(acked)}${acked < target ? ` of ${count(target)} (time budget)` : ''}`, `${count(Math.round(acked / pubSeconds))} msgs/s`,
        `${mib(before)} → ${mib(rssQueued)}`, wasAlive ? 'yes, 200 ok' : '**no**',
        `${count(distinct)} of ${count(acked)} distinct (${count(got.length - distinct)} repeated) in ${drainSeconds.toFixed(0)} s${distinct < acked ? ' (**stopped by the time budget**, the rest not checked)' : ''}`]]
    }
  } finally { await broker.stop() }
}

export const bombsProbe: Probe = {
  id: 'bombs',
  title: 'Resource bombs',
  share: 0.13,
  run: async ctx => {
    const tables = [await partialPackets(ctx), await subscribeBombs(ctx), await queueBomb(ctx)]
    return {
      title: 'Resource bombs',
      method: `Three bombs, each on a fresh broker. (1) Sockets that each send a CONNECT (keep alive 0) and
${count(SENT)} bytes of a PUBLISH announcing ${count(ANNOUNCED)}, then nothing: closed at once, closed
within ${HOLD_MS / 1000} s (\`--partial-packet-timeout\` is shortened from its default 30 s to fit the
budget), RSS; Mosquitto beside it. (2) A persistent session's SUBSCRIBE with 5,000 filters in one
packet, and 20,000 in packets of 500. (3) A raw persistent subscriber that reads and never
acknowledges (\`qb/#\` QoS 1) while a publisher queues QoS 1 messages for it within the budget;
then it reconnects with MQTT.js, which acknowledges, and every message is counted. Tests:
test/faults/partial-packets.test.ts, test/faults/subscribe-bomb.test.ts,
test/broker/frozen-subscriber.test.ts.`,
      tables
    }
  }
}
