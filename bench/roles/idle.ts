// Idle-device role: opens n connections (keepalive as given; device i to endpoint i mod the
// number of endpoints, with credentials when the job has them), holds them, pings within the
// keepalive; on 'storm' drops them all at once and reconnects with the same client ids, on
// 'reconnect' disconnects them cleanly and connects them again.
import { build, encodeIntoCompressedBase64 } from 'hdr-histogram-js'
import { ConnackRefused, openMany, type BenchConn, type ConnectOptions } from '../conn.js'
import { PINGREQ_BYTES } from '../wire.js'
import { CpuMeter, fastNowNs, sleep } from './common.js'
import type { ConnectResult, IdleJob } from '../jobs.js'

export class IdleDevices {
  private conns: Array<BenchConn | null> = []
  private pinger: NodeJS.Timeout | undefined

  constructor (private readonly job: IdleJob) {}

  async connectAll (): Promise<ConnectResult> {
    const { job } = this
    const meter = new CpuMeter()
    const hist = build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 })
    const conns: Array<BenchConn | null> = new Array(job.n).fill(null)
    let connected = 0
    let refused = 0
    let lastNs = 0
    const startNs = fastNowNs()
    await openMany(job.n, job.concurrency, i => this.options(job.idBase + i), (i, conn, ns, err) => {
      conns[i] = conn
      if (conn !== null) { connected++; lastNs = fastNowNs(); hist.recordValue(Math.max(1, Math.round(ns / 1000))) }
      if (err instanceof ConnackRefused) refused++
    }, fastNowNs)
    this.conns = conns
    this.startPinging()
    return { ...meter.report(), connected, failed: job.n - connected, refused, startNs, lastNs, histogram: encodeIntoCompressedBase64(hist) }
  }

  /** Device `id` (global index): its node, client id and, when the job has them, credentials. */
  private options (id: number): ConnectOptions {
    const { job } = this
    const at = job.endpoints[id % job.endpoints.length]
    const cred = job.credentials
    return {
      host: at.host, port: at.port, clientId: `bench-dev-${id}`, keepalive: job.keepalive, clean: job.clean, timeoutMs: job.timeoutMs,
      ...(cred !== undefined ? { username: `${cred.userPrefix}${id}`, password: `${cred.passwordPrefix}${id}` } : {})
    }
  }

  /** Every device loses its connection at the same moment, then all reconnect at once. */
  async storm (): Promise<ConnectResult> {
    clearInterval(this.pinger)
    for (const c of this.conns) c?.end(false)
    return await this.connectAll()
  }

  /** Every device sends DISCONNECT and closes, then (after settleMs) all connect again. */
  async reconnect (settleMs: number): Promise<ConnectResult> {
    clearInterval(this.pinger)
    for (const c of this.conns) c?.end(true)
    await sleep(settleMs)
    return await this.connectAll()
  }

  // Half the keepalive, spread so that not every socket is written in the same tick.
  private startPinging (): void {
    clearInterval(this.pinger)
    let next = 0
    const perTick = Math.max(1, Math.ceil(this.conns.length / (this.job.keepalive * 0.5 * 10)))
    this.pinger = setInterval(() => {
      for (let k = 0; k < perTick && this.conns.length > 0; k++) {
        const c = this.conns[next++ % this.conns.length]
        if (c !== null && c !== undefined && !c.closed) c.write(PINGREQ_BYTES)
      }
    }, 100)
  }

  close (): void {
    clearInterval(this.pinger)
    for (const c of this.conns) c?.end(false)
  }
}
