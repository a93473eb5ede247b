// Probe 5: slowloris. Thousands of sockets send the first bytes of a CONNECT and nothing more;
// how long until the broker closes them, and how long normal clients take to connect meanwhile.
// Swallow and Mosquitto with their defaults.
import { connect as tcpConnect } from 'node:net'
import mqttPacket from 'mqtt-packet'
import { startBroker } from '../../test/helpers/broker.js'
import { connectPacket } from '../../test/helpers/raw.js'
import { count, meanSd, mib, percentile, rssMiB, scaled, startMosquitto, type Probe } from '../probe.js'

/** How long the probe waits for a broker to close them (Swallow's --connect-timeout is 10 s). */
const BOUND_MS = 15_000

interface Figures { opened: number, closed: number, closeMs: number[], connectMs: number[], rss: string }

/** Opens a socket that sends half a CONNECT; resolves when it was sent, with the time it closes (0: not yet). */
function slowSocket (port: number, closedAt: number[], index: number): Promise<number> {
  return new Promise(resolve => {
    const socket = tcpConnect(port, '127.0.0.1')
    socket.on('error', () => {})
    socket.resume() // read whatever comes, or the close is never seen
    socket.on('close', () => { closedAt[index] = performance.now(); resolve(closedAt[index]) })
    socket.once('connect', () => {
      socket.write(connectPacket(`slow-${index}`).subarray(0, 8))
      resolve(performance.now())
    })
    setTimeout(() => socket.destroy(), BOUND_MS + 20_000).unref()
  })
}

/** A normal client: CONNECT, CONNACK, DISCONNECT; resolves the CONNACK time in ms (-1: refused or closed). */
function normalConnect (port: number, id: string): Promise<number> {
  return new Promise(resolve => {
    const t0 = performance.now()
    const socket = tcpConnect(port, '127.0.0.1')
    const parser = mqttPacket.parser()
    parser.on('packet', p => {
      if (p.cmd !== 'connack') return
      resolve(p.returnCode === 0 ? performance.now() - t0 : -1)
      socket.end(mqttPacket.generate({ cmd: 'disconnect' }))
    })
    socket.on('data', d => parser.parse(d))
    socket.on('error', () => {})
    socket.on('close', () => resolve(-1))
    socket.write(connectPacket(id))
  })
}

async function measure (port: number, pid: number | undefined, sockets: number): Promise<Figures> {
  const rssBefore = rssMiB(pid)
  const closedAt: number[] = new Array(sockets).fill(0)
  const sentAt: number[] = []
  for (let i = 0; i < sockets; i += 100) {
    const batch = Array.from({ length: Math.min(100, sockets - i) }, (_, j) => slowSocket(port, closedAt, i + j))
    sentAt.push(...await Promise.all(batch))
  }
  const connectMs: number[] = []
  const started = performance.now()
  let rssHeld = rssMiB(pid)
  while (closedAt.some(t => t === 0) && performance.now() - started < BOUND_MS) {
    const ms = await normalConnect(port, `normal-${connectMs.length}`)
    if (ms >= 0) connectMs.push(ms)
    rssHeld = Math.max(rssHeld, rssMiB(pid))
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  const closeMs = closedAt.flatMap((t, i) => t > 0 ? [t - sentAt[i]] : [])
  return { opened: sockets, closed: closeMs.length, closeMs, connectMs, rss: `${mib(rssBefore)} → ${mib(rssHeld)}` }
}

function row (broker: string, f: Figures): string[] {
  const { mean, sd } = meanSd(f.closeMs)
  return [broker, count(f.opened), f.closed === f.opened ? 'all' : `**${count(f.closed)}** (the rest still open after ${BOUND_MS / 1000} s)`,
    f.closed === 0 ? '—' : `${(mean / 1000).toFixed(1)} ± ${(sd / 1000).toFixed(1)} s`,
    `${count(f.connectMs.length)}: p50 ${percentile(f.connectMs, 50).toFixed(1)} / p99 ${percentile(f.connectMs, 99).toFixed(1)} ms`, f.rss]
}

export const slowlorisProbe: Probe = {
  id: 'slowloris',
  title: 'Slowloris',
  share: 0.07,
  run: async ctx => {
    const sockets = scaled(ctx, 3000, 100)
    const broker = await startBroker({ storage: 'memory' })
    let swallow: Figures
    try { swallow = await measure(broker.mqttPort, broker.proc.pid, sockets) } finally { await broker.stop() }
    ctx.log(`Swallow: ${swallow.closed} of ${sockets} closed`)
    const mosquitto = await startMosquitto()
    let theirs: Figures
    try { theirs = await measure(mosquitto.port, mosquitto.pid, sockets) } finally { await mosquitto.stop() }
    ctx.log(`Mosquitto: ${theirs.closed} of ${sockets} closed`)
    return {
      title: 'Slowloris',
      method: `${count(sockets)} sockets each send the first 8 bytes of a CONNECT and nothing more (opened 100 at a
time); meanwhile a normal client connects (CONNECT, CONNACK, DISCONNECT) every 50 ms until every
slow socket is closed, or for ${BOUND_MS / 1000} s at most. Close time is from the partial CONNECT to the
close; RSS before the sockets and the most while they were held. Swallow (memory storage,
\`--connect-timeout 10s\`, the default) and Mosquitto 2.0.11 with its defaults. Test:
test/broker/limits.test.ts (a socket that sends no CONNECT).`,
      tables: [{ header: ['broker', 'slow sockets', 'closed by the broker', 'time to close (mean ± sd)', 'normal connects meanwhile', 'RSS'], rows: [row('Swallow', swallow), row('Mosquitto 2.0.11', theirs)] }]
    }
  }
}
