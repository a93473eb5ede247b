// Connection scenarios: idle devices (memory per connection, connect rate), as many as one
// broker process can hold, and a reconnect storm.
import { ProcCpu, rssKbTotal } from '../procstat.js'
import { sleep } from '../roles/common.js'
import { brokerPids, type RunningTarget } from '../targets.js'
import { CONCURRENCY, connectsPerSecond, DeviceFleet, KEEPALIVE } from './devices.js'
import { metric, type Metric, type Scenario, type ScenarioResult } from './types.js'

export const FD_LIMIT_NOTE = 'The hard limit on open files here is 20,000 per process and cannot be raised: a broker process cannot hold 20,000 connections (listeners, storage files and stdio use some).'

async function idleRun (target: RunningTarget, n: number, storm: boolean, timeoutMs: number, quick: boolean, progress: (l: string) => void): Promise<ScenarioResult> {
  const fleet = await DeviceFleet.create(target, n, { timeoutMs })
  // RSS and CPU: summed over the nodes of a cluster (devices alternate between them).
  const pids = brokerPids(target)
  try {
    await sleep(300)
    const rssBefore = rssKbTotal(pids)
    const cpu = new ProcCpu(pids)
    cpu.start()
    const connect = await fleet.round({ cmd: 'start' })
    const brokerCpu = cpu.percent()
    progress(`${connect.connected} connected in ${connect.seconds.toFixed(2)} s`)
    await sleep(quick ? 300 : 1000) // let the broker settle before reading its memory
    const rssAfter = rssKbTotal(pids)
    const perConnKb = rssBefore === null || rssAfter === null || connect.connected === 0 ? null : (rssAfter - rssBefore) / connect.connected
    const metrics: Metric[] = [
      metric('held', 'connections held', 'conns', 'higher', connect.connected),
      metric('failed', 'connections refused or timed out', 'conns', 'none', connect.failed),
      metric('connectRate', 'connects/s', 'conns/s', 'higher', connectsPerSecond(connect)),
      metric('rssPerConn', 'broker RSS per connection', 'KiB', 'lower', perConnKb),
      metric('rssAfter', 'broker RSS with all connected', 'MiB', 'none', rssAfter === null ? null : rssAfter / 1024),
      metric('connectP99', 'connect p99 (TCP + CONNACK)', 'ms', 'lower', connect.p99ms),
      metric('brokerCpu', 'broker CPU while connecting (% of one core)', '%', 'none', brokerCpu),
      metric('generatorCpu', 'busiest generator process CPU (% of one core)', '%', 'none', connect.cpu)
    ]
    const raw: Record<string, unknown> = { connect, rssBeforeKb: rssBefore, rssAfterKb: rssAfter }
    if (storm) {
      const cpu2 = new ProcCpu(pids)
      cpu2.start()
      const back = await fleet.round({ cmd: 'storm' })
      raw.storm = back
      metrics.unshift(
        metric('stormSeconds', 'time until all are back', 's', 'lower', back.connected === connect.connected ? back.seconds : null),
        metric('back', 'devices back', 'conns', 'higher', back.connected),
        metric('reconnectRate', 'reconnects/s', 'conns/s', 'higher', connectsPerSecond(back)),
        metric('stormP99', 'reconnect p99', 'ms', 'lower', back.p99ms),
        metric('stormBrokerCpu', 'broker CPU during the storm (% of one core)', '%', 'none', cpu2.percent())
      )
    }
    const notes = [`acknowledged-but-lost: not applicable (no messages in this scenario); concurrency ${CONCURRENCY} handshakes in flight, keepalive ${KEEPALIVE} s, clean sessions.`]
    if (connect.maxMs !== null && connect.maxMs >= 1000) notes.push(`slowest connect took ${connect.maxMs.toFixed(0)} ms (>= 1 s usually means a dropped SYN retried by the kernel)`)
    return { metrics, notes, raw }
  } finally {
    await fleet.close()
  }
}

const idle: Scenario = {
  id: 'idle-10k',
  placement: 'alternate',
  title: 'idle connections',
  primary: 'rssPerConn',
  summary: ['rssPerConn', 'connectRate'],
  describe: quick => `${(quick ? 1_000 : 10_000).toLocaleString('en')} devices connect (keepalive ${KEEPALIVE} s, clean session, ${CONCURRENCY} handshakes in flight) ` +
    'and stay idle. Broker memory per connection = (VmRSS after all connected and 1 s of settling - VmRSS before) / connections; connect rate = connections / time from first attempt to last CONNACK.',
  run: async (target, quick, progress) => await idleRun(target, quick ? 1_000 : 10_000, false, 10_000, quick, progress)
}

const idleMax: Scenario = {
  id: 'idle-max',
  placement: 'alternate',
  title: 'as many idle connections as one broker process holds',
  primary: 'held',
  summary: ['held', 'rssPerConn'],
  describe: quick => `${(quick ? 2_000 : 20_000).toLocaleString('en')} devices try to connect as in the idle scenario; how many the broker holds. ${FD_LIMIT_NOTE}`,
  run: async (target, quick, progress) => await idleRun(target, quick ? 2_000 : 20_000, false, 5_000, quick, progress)
}

const storm: Scenario = {
  id: 'storm-10k',
  placement: 'alternate',
  title: 'reconnect storm',
  primary: 'stormSeconds',
  summary: ['stormSeconds', 'back'],
  describe: quick => `${(quick ? 1_000 : 10_000).toLocaleString('en')} devices connect, then every socket is dropped at the same moment and all reconnect at once ` +
    `with the same client ids (${CONCURRENCY} handshakes in flight). Time = first reconnect attempt to the last device's CONNACK.`,
  run: async (target, quick, progress) => await idleRun(target, quick ? 1_000 : 10_000, true, 10_000, quick, progress)
}

export const connectionScenarios: Scenario[] = [idle, idleMax, storm]
