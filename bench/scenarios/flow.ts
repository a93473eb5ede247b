// Runs one message flow: P publishers -> broker -> S subscribers, and accounts for every
// message: sent, acknowledged to the publisher, delivered, lost, acknowledged-but-lost.
import { decodeFromCompressedBase64, type Histogram } from 'hdr-histogram-js'
import { GenProcess, split } from '../pool.js'
import { CoresCpu, ProcCpu } from '../procstat.js'
import { unpackBits } from '../roles/common.js'
import type { PublishResult, SubscribeResult } from '../jobs.js'
import { brokerPids, publisherEndpoint, subscriberEndpoint, type RunningTarget } from '../targets.js'

export interface FlowParams {
  pubs: number
  subs: number
  qos: 0 | 1 | 2
  perPub: number
  /** QoS 1/2 unacknowledged messages per publisher. */
  window: number
  payloadSize: number
  capMs: number
  /** Messages/s per publisher, 0 = as fast as possible. */
  rate: number
  latency: boolean
  topic: string
  filter: string
  /** Connections per generator process. */
  pubsPerProc: number
  subsPerProc: number
  /**
   * The subscribers are one shared group (`filter` is $share/...): each message is expected
   * once over all of them, not once at each. Needs them in one generator process.
   */
  shared?: boolean
}

export interface FlowOutcome {
  sent: number
  acked: number
  unacked: number
  disconnected: number
  expected: number
  delivered: number
  duplicates: number
  lost: number
  ackedLost: number
  seconds: number
  deliveriesPerSecond: number
  brokerCpu: number | null
  /** Broker CPU-seconds per 100,000 delivered messages (summed over a cluster's nodes). */
  cpuPer100k: number | null
  generatorCpu: number
  /** Average CPU of the load's cores while the publishers ran, % of those cores. */
  loadCoresCpu: number | null
  histogram: Histogram | null
  /** Shared group: messages each subscriber got (null otherwise). */
  perSubscriber: number[] | null
}

const pct = (r: { cpuMs: number, wallMs: number }): number => Math.round(100 * r.cpuMs / Math.max(1, r.wallMs))

export async function runFlow (target: RunningTarget, p: FlowParams): Promise<FlowOutcome> {
  // Publishers on node A, subscribers on the last node: on a cluster every message crosses
  // Redis; on a single broker both are the same address.
  const pubAt = { host: publisherEndpoint(target).host, port: publisherEndpoint(target).port }
  const subAt = { host: subscriberEndpoint(target).host, port: subscriberEndpoint(target).port }
  const subProcs = split(p.subs, p.subsPerProc).map((n, i) => ({ n, gen: new GenProcess(`subscribers#${i}`) }))
  if (p.shared === true && subProcs.length > 1) throw new Error('a shared group\'s subscribers must be in one generator process (subsPerProc >= subs)')
  const pubProcs = split(p.pubs, p.pubsPerProc).map((n, i) => ({ n, gen: new GenProcess(`publishers#${i}`) }))
  try {
    let idBase = 0
    await Promise.all(subProcs.map(({ n, gen }) => {
      const job = { ...subAt, role: 'subscribe' as const, conns: n, idBase, filter: p.filter, qos: p.qos, pubs: p.pubs, perPub: p.perPub, latency: p.latency, idleMs: p.capMs < 2000 ? 800 : 1500 }
      idBase += n
      return gen.setup(job)
    }))
    let indexBase = 0
    await Promise.all(pubProcs.map(({ n, gen }) => {
      const job = { ...pubAt, role: 'publish' as const, conns: n, indexBase, topic: p.topic, qos: p.qos, perConn: p.perPub, window: p.window, payloadSize: p.payloadSize, capMs: p.capMs, rate: p.rate, ackTimeoutMs: 10_000 }
      indexBase += n
      return gen.setup(job)
    }))

    const brokerCpu = new ProcCpu(brokerPids(target))
    const loadCpu = new CoresCpu(target.loadCores ?? [])
    brokerCpu.start()
    loadCpu.start()
    const pubResults = await Promise.all(pubProcs.map(({ gen }) => gen.ask<PublishResult>({ cmd: 'start' }, p.capMs + 60_000)))
    const loadCoresCpu = loadCpu.percent()
    const sentPerPub = pubResults.flatMap(r => r.sent)
    const expectedPerSub = sentPerPub.reduce((a, b) => a + b, 0)
    const subResults = await Promise.all(subProcs.map(({ n, gen }) =>
      gen.ask<SubscribeResult>({ cmd: 'finish', expected: new Array(n).fill(expectedPerSub), expectedTotal: p.shared === true ? expectedPerSub : undefined }, 180_000)))
    const brokerCpuPct = brokerCpu.percent()
    const outcome = account(p, pubResults, subResults, expectedPerSub, brokerCpuPct, loadCoresCpu)
    const usedMs = brokerCpu.usedMs()
    outcome.cpuPer100k = usedMs === null || outcome.delivered === 0 ? null : usedMs / 1000 / outcome.delivered * 100_000
    return outcome
  } finally {
    for (const { gen } of [...subProcs, ...pubProcs]) gen.close()
  }
}

function account (p: FlowParams, pubs: PublishResult[], subs: SubscribeResult[], expectedPerSub: number, brokerCpu: number | null, loadCoresCpu: number | null): FlowOutcome {
  const acked = pubs.flatMap(r => r.acked.map(b => unpackBits(b, p.perPub)))
  const countAckedLost = (got: Uint8Array): number => {
    let n = 0
    for (let pub = 0; pub < acked.length; pub++) {
      const a = acked[pub]
      for (let seq = 0; seq < p.perPub; seq++) if (a[seq] === 1 && got[pub * p.perPub + seq] === 0) n++
    }
    return n
  }
  const received = subs.flatMap(s => s.received.map(b64 => unpackBits(b64, p.pubs * p.perPub)))
  let ackedLost = 0
  let delivered = subs.reduce((a, s) => a + s.unique.reduce((x, y) => x + y, 0), 0)
  let crossDuplicates = 0
  if (p.shared === true) {
    // One group: a message counts once over the members; one at two members is a duplicate.
    const union = new Uint8Array(p.pubs * p.perPub)
    for (const got of received) {
      for (let i = 0; i < got.length; i++) {
        if (got[i] === 0) continue
        if (union[i] === 1) crossDuplicates++
        else union[i] = 1
      }
    }
    delivered -= crossDuplicates
    ackedLost = countAckedLost(union)
  } else {
    for (const got of received) ackedLost += countAckedLost(got)
  }
  const expected = expectedPerSub * (p.shared === true ? 1 : p.subs)
  const firstSend = Math.min(...pubs.map(r => r.firstSendNs))
  const lastRecv = Math.max(...subs.map(r => r.lastRecvNs))
  // Nothing delivered: the span is the publishers' own run, so the CPU figures stay meaningful.
  const seconds = lastRecv > 0 ? Math.max(1e-6, (lastRecv - firstSend) / 1e9) : Math.max(...pubs.map(r => r.wallMs)) / 1000
  let histogram: Histogram | null = null
  for (const s of subs) {
    if (s.histogram === null) continue
    const h = decodeFromCompressedBase64(s.histogram)
    if (histogram === null) histogram = h
    else histogram.add(h)
  }
  return {
    sent: pubs.reduce((a, r) => a + r.sent.reduce((x, y) => x + y, 0), 0),
    acked: pubs.reduce((a, r) => a + r.ackedCount, 0),
    unacked: pubs.reduce((a, r) => a + r.unacked, 0),
    disconnected: pubs.reduce((a, r) => a + r.disconnected, 0),
    expected,
    delivered,
    duplicates: subs.reduce((a, s) => a + s.duplicates, 0) + crossDuplicates,
    lost: expected - delivered,
    ackedLost,
    seconds,
    deliveriesPerSecond: lastRecv > 0 ? delivered / seconds : 0,
    brokerCpu,
    cpuPer100k: null, // set by runFlow from the broker's CPU time
    loadCoresCpu,
    // Subscribers idle before the first and after the last message: charge their CPU to the flow's span.
    generatorCpu: Math.max(...pubs.map(pct), ...subs.map(s => pct({ cpuMs: s.cpuMs, wallMs: seconds * 1000 }))),
    histogram,
    perSubscriber: p.shared === true ? subs.flatMap(s => s.unique) : null
  }
}
