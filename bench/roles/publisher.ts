// Publisher role: `conns` connections, each sending up to perConn messages, flat out
// (bounded by socket backpressure and the QoS 1/2 window) or at a fixed rate.
import { BenchConn } from '../conn.js'
import { PUBACK, PUBREC, PUBREL, PUBCOMP, PublishTemplate } from '../wire.js'
import { AckBatcher, CpuMeter, fastNowNs, packBits } from './common.js'
import type { PublishJob, PublishResult } from '../jobs.js'

const BATCH = 64 // messages per socket write
const BATCHES_PER_TURN = 16 // then yield, so other connections and acks get a turn

interface Stream {
  sent: number
  acked: Uint8Array
  ackedCount: number
  inflight: number
  done: boolean
}

export class Publisher {
  private readonly conns: BenchConn[] = []
  private readonly streams: Stream[] = []
  private readonly meter = new CpuMeter()
  private firstSendNs = 0
  private lastSendNs = 0
  private lastAckNs = 0

  constructor (private readonly job: PublishJob) {}

  async setup (): Promise<void> {
    const { job } = this
    for (let c = 0; c < job.conns; c++) {
      this.conns.push(await BenchConn.open({
        host: job.host, port: job.port, clientId: `bench-pub-${job.indexBase + c}-${process.pid}`,
        keepalive: 60, clean: true, timeoutMs: 10_000
      }))
    }
  }

  run (): Promise<PublishResult> {
    this.meter.start()
    this.firstSendNs = fastNowNs()
    const deadlineNs = this.firstSendNs + this.job.capMs * 1e6
    return new Promise(resolve => {
      let pending = this.conns.length
      const onDone = (): void => { if (--pending === 0) resolve(this.result()) }
      this.conns.forEach((conn, c) => this.runStream(conn, this.job.indexBase + c, deadlineNs, onDone))
    })
  }

  private runStream (conn: BenchConn, pubIndex: number, deadlineNs: number, onDone: () => void): void {
    const { job } = this
    const tpl = new PublishTemplate(job.topic.replace('{i}', String(pubIndex)), job.qos, job.payloadSize)
    const msgLen = tpl.bytes.length
    const s: Stream = { sent: 0, acked: new Uint8Array(job.perConn), ackedCount: 0, inflight: 0, done: false }
    this.streams.push(s)
    const seqOfId = new Int32Array(65536)
    const acks = new AckBatcher(conn)
    let nextId = 1
    let limit = job.perConn
    let waiting = false
    let ackTimer: NodeJS.Timeout | undefined

    const finish = (): void => {
      if (s.done) return
      s.done = true
      clearTimeout(ackTimer)
      clearInterval(rateTimer)
      onDone()
    }
    const maybeFinish = (): void => {
      if (s.sent < limit) return
      if (job.qos === 0 || s.inflight === 0 || conn.closed) return finish()
      ackTimer ??= setTimeout(finish, job.ackTimeoutMs)
    }
    const markAcked = (id: number): void => {
      const seq = seqOfId[id]
      if (s.acked[seq] === 0) { s.acked[seq] = 1; s.ackedCount++ }
      this.lastAckNs = fastNowNs()
    }
    conn.onFrame = (type, _flags, buf, start) => {
      const id = buf.readUInt16BE(start)
      if (type === PUBACK) { markAcked(id); s.inflight--; pump() } else if (type === PUBREC) {
        markAcked(id); acks.add(PUBREL, id)
      } else if (type === PUBCOMP) { s.inflight--; pump() }
    }
    conn.socket.on('close', finish)

    // Sends up to `max` messages; `stampNs(seq)` is the time written into the payload.
    const send = (max: number, stampNs: (seq: number) => number): boolean => {
      const k = Math.min(max, limit - s.sent)
      if (k <= 0) return true
      const out = Buffer.allocUnsafe(k * msgLen)
      for (let j = 0; j < k; j++) {
        const id = nextId
        nextId = nextId === 65535 ? 1 : nextId + 1
        seqOfId[id] = s.sent
        tpl.write(out, j * msgLen, id, pubIndex, s.sent, stampNs(s.sent))
        s.sent++
      }
      if (job.qos > 0) s.inflight += k
      this.lastSendNs = fastNowNs()
      return conn.write(out)
    }
    const room = (): number => job.qos === 0 ? BATCH : Math.min(BATCH, job.window - s.inflight)

    // Flat out: fill the window / socket, yield every few batches.
    const pump = (): void => {
      if (waiting || s.done || job.rate > 0) return
      for (let turn = 0; turn < BATCHES_PER_TURN && s.sent < limit; turn++) {
        const now = fastNowNs()
        if (now > deadlineNs) { limit = s.sent; break }
        const n = room()
        if (n <= 0) return
        if (!send(n, () => now)) {
          waiting = true
          void conn.waitDrain().then(() => { waiting = false; pump() })
          return
        }
      }
      if (s.sent < limit) setImmediate(pump)
      else maybeFinish()
    }

    // Fixed rate: every millisecond send what the schedule says is due. Messages go out
    // stamped with their send time; once the window is full (the broker is not acknowledging),
    // the ones held back are stamped with their scheduled time instead, so a stalled broker
    // is charged for the wait (no coordinated omission) while the generator's own ~1 ms timer
    // granularity is not.
    const t0 = fastNowNs()
    const intervalNs = job.rate > 0 ? 1e9 / job.rate : 0
    let behind = false
    const paced = (): void => {
      if (s.done) return
      const now = fastNowNs()
      if (now > deadlineNs) limit = s.sent
      const due = Math.min(limit, Math.floor((now - t0) / intervalNs))
      let blocked = false
      while (s.sent < due) {
        const n = Math.min(room(), due - s.sent)
        if (n <= 0) { blocked = true; break }
        send(n, behind ? seq => t0 + seq * intervalNs : () => now)
      }
      behind = blocked
      maybeFinish()
    }
    const rateTimer = job.rate > 0 ? setInterval(paced, 1) : undefined
    if (job.rate > 0) {
      const prev = conn.onFrame
      conn.onFrame = (type, flags, buf, start, end) => { prev(type, flags, buf, start, end); if (type === PUBACK || type === PUBCOMP) paced() }
    } else pump()
  }

  private result (): PublishResult {
    const cpu = this.meter.report()
    let ackedCount = 0
    let unacked = 0
    for (const s of this.streams) { ackedCount += s.ackedCount; unacked += this.job.qos > 0 ? s.sent - s.ackedCount : 0 }
    return {
      ...cpu,
      sent: this.streams.map(s => s.sent),
      acked: this.streams.map(s => packBits(s.acked)),
      ackedCount,
      unacked,
      disconnected: this.conns.filter(c => c.closed).length,
      firstSendNs: this.firstSendNs,
      lastSendNs: this.lastSendNs,
      lastAckNs: this.lastAckNs
    }
  }

  close (): void {
    for (const c of this.conns) c.end(true)
  }
}
