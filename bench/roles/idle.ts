// Idle-device role: opens n connections (keepalive as given), holds them, pings within the
// keepalive, and on 'storm' drops them all at once and reconnects with the same client ids.
import { build, encodeIntoCompressedBase64 } from 'hdr-histogram-js'
import { openMany, type BenchConn } from '../conn.js'
import { PINGREQ_BYTES } from '../wire.js'
import { CpuMeter, fastNowNs } from './common.js'
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
    let lastNs = 0
    const startNs = fastNowNs()
    await openMany(job.n, job.concurrency, i => ({
      host: job.host, port: job.port, clientId: `bench-dev-${job.idBase + i}`,
      keepalive: job.keepalive, clean: job.clean, timeoutMs: job.timeoutMs
    }), (i, conn, ns) => {
      conns[i] = conn
      if (conn !== null) { connected++; lastNs = fastNowNs(); hist.recordValue(Math.max(1, Math.round(ns / 1000))) }
    }, fastNowNs)
    this.conns = conns
    this.startPinging()
    return { ...meter.report(), connected, failed: job.n - connected, startNs, lastNs, histogram: encodeIntoCompressedBase64(hist) }
  }

  /** Every device loses its connection at the same moment, then all reconnect at once. */
  async storm (): Promise<ConnectResult> {
    clearInterval(this.pinger)
    for (const c of this.conns) c?.end(false)
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
