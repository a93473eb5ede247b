// Subscriber role: `conns` connections on one filter; marks every (publisher, seq) received,
// acknowledges QoS 1/2 as a well-behaved client, and optionally records latency.
import { build, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js'
import { BenchConn } from '../conn.js'
import { PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, readPublish } from '../wire.js'
import { AckBatcher, CpuMeter, fastNowNs, packBits, sleep } from './common.js'
import type { SubscribeJob, SubscribeResult } from '../jobs.js'

interface Sink { received: Uint8Array, unique: number }

const FIRST_MESSAGE_MS = 15_000

export class Subscriber {
  private readonly conns: BenchConn[] = []
  private readonly sinks: Sink[] = []
  private readonly meter = new CpuMeter()
  private readonly histogram: Histogram | null
  private duplicates = 0
  private firstRecvNs = 0
  private lastRecvNs = 0

  constructor (private readonly job: SubscribeJob) {
    this.histogram = job.latency ? build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 }) : null
  }

  async setup (): Promise<void> {
    const { job } = this
    for (let c = 0; c < job.conns; c++) {
      const conn = await BenchConn.open({
        host: job.host, port: job.port, clientId: `bench-sub-${job.idBase + c}-${process.pid}`,
        keepalive: 60, clean: true, timeoutMs: 10_000
      })
      const sink: Sink = { received: new Uint8Array(job.pubs * job.perPub), unique: 0 }
      this.attach(conn, sink)
      await conn.subscribe(job.filter, job.qos)
      this.conns.push(conn)
      this.sinks.push(sink)
    }
    this.meter.start()
  }

  private attach (conn: BenchConn, sink: Sink): void {
    const acks = new AckBatcher(conn)
    const { perPub } = this.job
    const hist = this.histogram
    conn.onFrame = (type, flags, buf, start) => {
      if (type === PUBLISH) {
        const qos = (flags >> 1) & 3
        const m = readPublish(buf, start, qos)
        const now = fastNowNs()
        if (this.firstRecvNs === 0) this.firstRecvNs = now
        this.lastRecvNs = now
        const slot = m.pubIndex * perPub + m.seq
        if (m.seq < perPub && slot < sink.received.length) {
          if (sink.received[slot] === 0) { sink.received[slot] = 1; sink.unique++ } else this.duplicates++
        }
        if (hist !== null) hist.recordValue(Math.max(1, Math.round((now - m.sentNs) / 1000)))
        if (qos === 1) acks.add(PUBACK, m.id)
        else if (qos === 2) acks.add(PUBREC, m.id)
      } else if (type === PUBREL) {
        acks.add(PUBCOMP, buf.readUInt16BE(start))
      }
    }
  }

  /**
   * Waits until each connection has `expected[c]` messages, or nothing arrived for idleMs
   * (FIRST_MESSAGE_MS while nothing has arrived yet: a loaded broker may start late).
   * With `expectedTotal` (members of one shared group): until they have that many together.
   */
  async finish (expected: number[], expectedTotal?: number): Promise<SubscribeResult> {
    const started = Date.now()
    let lastSeen = -1
    let lastChange = Date.now()
    for (;;) {
      const total = this.sinks.reduce((a, s) => a + s.unique, 0)
      const complete = expectedTotal !== undefined ? total >= expectedTotal : this.sinks.every((s, c) => s.unique >= (expected[c] ?? 0))
      if (complete) break
      if (total !== lastSeen) { lastSeen = total; lastChange = Date.now() }
      const patience = total === 0 ? FIRST_MESSAGE_MS : this.job.idleMs
      if (Date.now() - lastChange > patience || Date.now() - started > 120_000) break
      await sleep(20)
    }
    return {
      ...this.meter.report(),
      received: this.sinks.map(s => packBits(s.received)),
      unique: this.sinks.map(s => s.unique),
      duplicates: this.duplicates,
      firstRecvNs: this.firstRecvNs,
      lastRecvNs: this.lastRecvNs,
      histogram: this.histogram === null ? null : encodeIntoCompressedBase64(this.histogram)
    }
  }

  close (): void {
    for (const c of this.conns) c.end(true)
  }
}
