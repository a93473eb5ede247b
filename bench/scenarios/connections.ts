// Connection scenarios: idle devices (memory per connection, connect rate), as many as one
// broker process can hold, and a reconnect storm.
import { decodeFromCompressedBase64 } from 'hdr-histogram-js'
import { GenProcess, split } from '../pool.js'
import { ProcCpu, rssKb } from '../procstat.js'
import { sleep } from '../roles/common.js'
import type { ConnectResult } from '../jobs.js'
import type { RunningTarget } from '../targets.js'
import { metric, type Metric, type Scenario, type ScenarioResult } from './types.js'

const PER_PROCESS = 5_000 // generator processes stay far below their own 20,000 open files
const CONCURRENCY = 100 // handshakes in flight across all generator processes
const KEEPALIVE = 60
export const FD_LIMIT_NOTE = 'The hard limit on open files here is 20,000 per process and cannot be raised: a broker process cannot hold 20,000 connections (listeners, storage files and stdio use some).'

interface Phase { connected: number, failed: number, seconds: number, p99ms: number | null, maxMs: number | null, cpu: number }

function merge (results: ConnectResult[]): Phase {
  const start = Math.min(...results.map(r => r.startNs))
  const last = Math.max(...results.map(r => r.lastNs))
  const h = decodeFromCompressedBase64(results[0].histogram)
  for (const r of results.slice(1)) h.add(decodeFromCompressedBase64(r.histogram))
  const connected = results.reduce((a, r) => a + r.connected, 0)
  return {
    connected,
    failed: results.reduce((a, r) => a + r.failed, 0),
    seconds: connected === 0 ? 0 : (last - start) / 1e9,
    p99ms: connected === 0 ? null : h.getValueAtPercentile(99) / 1000,
    maxMs: connected === 0 ? null : h.maxValue / 1000,
    cpu: Math.max(...results.map(r => Math.round(100 * r.cpuMs / Math.max(1, r.wallMs))))
  }
}

async function idleRun (target: RunningTarget, n: number, storm: boolean, timeoutMs: number, quick: boolean, progress: (l: string) => void): Promise<ScenarioResult> {
  // At least two processes, so the generator can use both cores while the broker waits on I/O.
  const parts = split(n, PER_PROCESS, 2)
  const gens = parts.map((_, i) => new GenProcess(`devices#${i}`))
  try {
    let idBase = 0
    await Promise.all(gens.map((gen, i) => {
      const job = { role: 'idle' as const, host: target.host, port: target.port, n: parts[i], idBase, keepalive: KEEPALIVE, concurrency: Math.ceil(CONCURRENCY / parts.length), clean: true, timeoutMs }
      idBase += parts[i]
      return gen.setup(job)
    }))
    await sleep(300)
    const rssBefore = target.pid === null ? null : rssKb(target.pid)
    const cpu = new ProcCpu(target.pid)
    cpu.start()
    const connect = merge(await Promise.all(gens.map(g => g.ask<ConnectResult>({ cmd: 'start' }, 300_000))))
    const brokerCpu = cpu.percent()
    progress(`${connect.connected} connected in ${connect.seconds.toFixed(2)} s`)
    await sleep(quick ? 300 : 1000) // let the broker settle before reading its memory
    const rssAfter = target.pid === null ? null : rssKb(target.pid)
    const perConnKb = rssBefore === null || rssAfter === null || connect.connected === 0 ? null : (rssAfter - rssBefore) / connect.connected
    const metrics: Metric[] = [
      metric('held', 'connections held', 'conns', 'higher', connect.connected),
      metric('failed', 'connections refused or timed out', 'conns', 'none', connect.failed),
      metric('connectRate', 'connects/s', 'conns/s', 'higher', connect.seconds > 0 ? connect.connected / connect.seconds : null),
      metric('rssPerConn', 'broker RSS per connection', 'KiB', 'lower', perConnKb),
      metric('rssAfter', 'broker RSS with all connected', 'MiB', 'none', rssAfter === null ? null : rssAfter / 1024),
      metric('connectP99', 'connect p99 (TCP + CONNACK)', 'ms', 'lower', connect.p99ms),
      metric('brokerCpu', 'broker CPU while connecting (% of one core)', '%', 'none', brokerCpu),
      metric('generatorCpu', 'busiest generator process CPU (% of one core)', '%', 'none', connect.cpu)
    ]
    const raw: Record<string, unknown> = { connect, rssBeforeKb: rssBefore, rssAfterKb: rssAfter }
    if (storm) {
      const cpu2 = new ProcCpu(target.pid)
      cpu2.start()
      const back = merge(await Promise.all(gens.map(g => g.ask<ConnectResult>({ cmd: 'storm' }, 300_000))))
      raw.storm = back
      metrics.unshift(
        metric('stormSeconds', 'time until all are back', 's', 'lower', back.connected === connect.connected ? back.seconds : null),
        metric('back', 'devices back', 'conns', 'higher', back.connected),
        metric('reconnectRate', 'reconnects/s', 'conns/s', 'higher', back.seconds > 0 ? back.connected / back.seconds : null),
        metric('stormP99', 'reconnect p99', 'ms', 'lower', back.p99ms),
        metric('stormBrokerCpu', 'broker CPU during the storm (% of one core)', '%', 'none', cpu2.percent())
      )
    }
    const notes = [`acknowledged-but-lost: not applicable (no messages in this scenario); concurrency ${CONCURRENCY} handshakes in flight, keepalive ${KEEPALIVE} s, clean sessions.`]
    if (connect.maxMs !== null && connect.maxMs >= 1000) notes.push(`slowest connect took ${connect.maxMs.toFixed(0)} ms (>= 1 s usually means a dropped SYN retried by the kernel)`)
    return { metrics, notes, raw }
  } finally {
    for (const g of gens) g.close()
    await sleep(500)
  }
}

const idle: Scenario = {
  id: 'idle-10k',
  title: 'idle connections',
  primary: 'rssPerConn',
  summary: ['rssPerConn', 'connectRate'],
  describe: quick => `${(quick ? 1_000 : 10_000).toLocaleString('en')} devices connect (keepalive ${KEEPALIVE} s, clean session, ${CONCURRENCY} handshakes in flight) ` +
    'and stay idle. Broker memory per connection = (VmRSS after all connected and 1 s of settling - VmRSS before) / connections; connect rate = connections / time from first attempt to last CONNACK.',
  run: async (target, quick, progress) => await idleRun(target, quick ? 1_000 : 10_000, false, 10_000, quick, progress)
}

const idleMax: Scenario = {
  id: 'idle-max',
  title: 'as many idle connections as one broker process holds',
  primary: 'held',
  summary: ['held', 'rssPerConn'],
  describe: quick => `${(quick ? 2_000 : 20_000).toLocaleString('en')} devices try to connect as in the idle scenario; how many the broker holds. ${FD_LIMIT_NOTE}`,
  run: async (target, quick, progress) => await idleRun(target, quick ? 2_000 : 20_000, false, 5_000, quick, progress)
}

const storm: Scenario = {
  id: 'storm-10k',
  title: 'reconnect storm',
  primary: 'stormSeconds',
  summary: ['stormSeconds', 'back'],
  describe: quick => `${(quick ? 1_000 : 10_000).toLocaleString('en')} devices connect, then every socket is dropped at the same moment and all reconnect at once ` +
    `with the same client ids (${CONCURRENCY} handshakes in flight). Time = first reconnect attempt to the last device's CONNACK.`,
  run: async (target, quick, progress) => await idleRun(target, quick ? 1_000 : 10_000, true, 10_000, quick, progress)
}

export const connectionScenarios: Scenario[] = [idle, idleMax, storm]
