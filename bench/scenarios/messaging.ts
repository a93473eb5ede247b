// Message scenarios: 1->1 at QoS 0/1/2, fan-out, a shared group, fan-in, fixed-rate latency.
import { runFlow, type FlowOutcome, type FlowParams } from './flow.js'
import { metric, type Metric, type Scenario, type ScenarioResult } from './types.js'

const PAYLOAD = 64 // bytes per message, 16 of them the bench header

function base (quick: boolean): Pick<FlowParams, 'payloadSize' | 'capMs' | 'rate' | 'latency' | 'pubsPerProc' | 'subsPerProc'> {
  return { payloadSize: PAYLOAD, capMs: quick ? 700 : 8000, rate: 0, latency: false, pubsPerProc: 500, subsPerProc: 500 }
}

function accounting (o: FlowOutcome, qos: number): Metric[] {
  return [
    metric('lost', 'messages lost (sent, never delivered)', 'msgs', 'lower', o.lost),
    metric('ackedLost', 'acknowledged to publisher, never delivered', 'msgs', 'lower', qos === 0 ? 0 : o.ackedLost),
    metric('duplicates', 'duplicate deliveries', 'msgs', 'none', o.duplicates),
    metric('sent', 'messages sent', 'msgs', 'none', o.sent),
    metric('brokerCpu', 'broker CPU (% of one core)', '%', 'none', o.brokerCpu),
    metric('generatorCpu', 'busiest generator process CPU (% of one core)', '%', 'none', o.generatorCpu),
    metric('loadCoresCpu', 'load cores CPU while publishing (% of those cores)', '%', 'none', o.loadCoresCpu)
  ]
}

/** The load's cores averaged above this while publishing: the figure may be the load's, not the broker's. */
const GENERATOR_BOUND_PERCENT = 85

/** Throughput and its cost: the CPU figure carries over to bigger machines. */
function throughput (o: FlowOutcome, label: string, unit: string): Metric[] {
  return [
    metric('rate', label, unit, 'higher', o.deliveriesPerSecond),
    metric('cpuPer100k', 'broker CPU-seconds per 100k delivered', 's', 'lower', o.cpuPer100k)
  ]
}

function result (o: FlowOutcome, head: Metric[], qos: number, notes: string[] = []): ScenarioResult {
  const generatorBound = o.loadCoresCpu !== null && o.loadCoresCpu > GENERATOR_BOUND_PERCENT
  if (generatorBound) notes.push(`generator-bound: the load's cores averaged ${o.loadCoresCpu}% while publishing (over ${GENERATOR_BOUND_PERCENT}%)`)
  if (o.unacked > 0) notes.push(`${o.unacked} messages were never acknowledged to their publisher within 10 s after sending stopped`)
  if (o.disconnected > 0) notes.push(`the broker closed ${o.disconnected} publisher connection(s) during the run`)
  if (o.generatorCpu >= 90) notes.push(`a generator process used ${o.generatorCpu}% of a core: the generator may be the limit here`)
  const { histogram, ...raw } = o
  return { metrics: [...head, ...accounting(o, qos)], notes, raw: { ...raw, generatorBound, histogram: histogram === null ? null : histogram.summary } }
}

/**
 * 1 -> 1 at QoS `qos` with `window` unacknowledged messages (QoS 1/2). Window 100 is the
 * throughput case; window 10, what devices use, is bound by the PUBLISH -> PUBACK round trip.
 * Mosquitto disconnects a 3.1.1 publisher with more than max_inflight_messages QoS 2 messages
 * unreleased, so QoS 2 runs with a window of 20 on every target.
 */
function oneToOne (qos: 0 | 1 | 2, window = qos === 2 ? 20 : 100): Scenario {
  // Counts are upper bounds; capMs stops the publisher first on slower targets.
  const count = (_quick: boolean): number => [600_000, 400_000, 200_000][qos]
  const windowed = qos === 1 && window !== 100
  return {
    id: `pubsub-qos${qos}${windowed ? `-w${window}` : ''}`,
    title: `1 publisher -> 1 subscriber, QoS ${qos}${qos > 0 ? `, window ${window}` : ''}`,
    primary: 'rate',
    placement: 'split',
    summary: ['rate', 'cpuPer100k', 'lost', 'ackedLost'],
    describe: quick => `One publisher sends up to ${count(quick).toLocaleString('en')} messages of ${PAYLOAD} bytes on one topic at QoS ${qos} as fast as ` +
      `the socket${qos > 0 ? ` and a window of ${window} unacknowledged messages` : ''} allow (stopping after ${base(quick).capMs / 1000} s); one subscriber ` +
      `(subscription QoS ${qos}) receives them. Rate = messages delivered / time from first send to last delivery.`,
    async run (target, quick) {
      const o = await runFlow(target, { ...base(quick), pubs: 1, subs: 1, qos, perPub: count(quick), window, topic: 'bench/1to1', filter: 'bench/1to1' })
      return result(o, throughput(o, 'delivered msgs/s', 'msgs/s'), qos)
    }
  }
}

// Every 1->1 message is on bench/1to1. ':embedded' pins the log to disk on every Swallow target:
// with --storage redis the bridge's default store is Redis, which the harness runs without persistence.
const bridgeRule = (ack: 'durable' | 'written'): string => `bench/#=bench:${ack}:embedded`

/** pubsub-qos1 with Swallow's log bridge on the topic (PUBACK after fsync, or after the
 *  write with ack:written); Mosquitto unchanged. */
function bridgeQos1 (ack: 'durable' | 'written'): Scenario {
  const plain = oneToOne(1)
  const rule = bridgeRule(ack)
  const when = ack === 'durable' ? 'after fsync' : 'once the operating system has it (fsynced within a second)'
  return {
    ...plain,
    id: ack === 'durable' ? 'bridge-qos1' : 'bridge-written-qos1',
    title: `1 publisher -> 1 subscriber, QoS 1, Swallow with ${ack === 'durable' ? 'a durable' : 'an ack:written'} log bridge rule`,
    describe: quick => `${plain.describe(quick)} Swallow targets run with \`--bridge-rule '${rule}'\`: every message is appended to a ` +
      `log on disk and PUBACKed ${when}. Mosquitto has no bridge and runs unchanged: the ratio reads "Swallow with a log vs Mosquitto without".`,
    broker: () => ({ swallowArgs: ['--bridge-rule', rule] })
  }
}

const fanOut: Scenario = {
  id: 'fanout-qos0',
  title: 'fan-out 1 -> 100 subscribers, QoS 0',
  primary: 'rate',
  placement: 'split',
  summary: ['rate', 'cpuPer100k', 'lost'],
  describe: quick => `One publisher sends up to ${(quick ? 1_000 : 20_000).toLocaleString('en')} messages at QoS 0 on one topic; 100 subscribers ` +
    'on that topic receive each. Rate = deliveries (messages x subscribers) / time from first send to last delivery; QoS 0 messages a broker drops count as lost.',
  async run (target, quick) {
    // Two subscriber processes: 100 sockets' deliveries are too much work for one core.
    const o = await runFlow(target, { ...base(quick), subsPerProc: 50, pubs: 1, subs: 100, qos: 0, perPub: quick ? 1_000 : 20_000, window: 1000, topic: 'bench/fanout', filter: 'bench/fanout' })
    return result(o, throughput(o, 'deliveries/s', 'deliveries/s'), 0)
  }
}

/**
 * 1 publisher -> a shared group of 10 QoS 1 members ($share/bench/...): each message to one
 * member. The 1 -> 1 QoS 1 settings (window 100, 64-byte payloads, up to 8 s), so the rate
 * reads against pubsub-qos1; how evenly the broker spreads the messages is reported too.
 */
const SHARED_MEMBERS = 10
const shared: Scenario = {
  id: 'shared-qos1',
  title: `shared subscription 1 publisher -> group of ${SHARED_MEMBERS} members, QoS 1`,
  primary: 'rate',
  placement: 'split',
  summary: ['rate', 'cpuPer100k', 'memberMin', 'memberMax', 'lost', 'ackedLost'],
  describe: quick => `One publisher sends up to ${(quick ? 20_000 : 400_000).toLocaleString('en')} messages of ${PAYLOAD} bytes at QoS 1 (window 100, stopping after ` +
    `${base(quick).capMs / 1000} s) on bench/shared; ${SHARED_MEMBERS} members subscribed to $share/bench/bench/shared (QoS 1) share them, each message to one member ` +
    '(the broker\'s default strategy: round robin on both). Rate = messages delivered (once over the group) / time from first send to last delivery; ' +
    'per member: the least and the most served member\'s share of the messages (10% each is even); a message at two members counts as a duplicate.',
  async run (target, quick) {
    const o = await runFlow(target, {
      ...base(quick), pubs: 1, subs: SHARED_MEMBERS, qos: 1, perPub: quick ? 20_000 : 400_000, window: 100, topic: 'bench/shared', filter: '$share/bench/bench/shared', shared: true
    })
    const per = o.perSubscriber ?? []
    const share = (n: number): number | null => o.delivered === 0 ? null : 100 * n / o.delivered
    return result(o, [
      ...throughput(o, 'delivered msgs/s', 'msgs/s'),
      metric('memberMin', 'least-served member (% of messages)', '%', 'none', per.length === 0 ? null : share(Math.min(...per))),
      metric('memberMax', 'most-served member (% of messages)', '%', 'none', per.length === 0 ? null : share(Math.max(...per)))
    ], 1, [`messages per member: ${per.map(n => n.toLocaleString('en')).join(' / ')}`])
  }
}

/** fan-in P -> 1 wildcard subscriber at QoS 1, 10 unacknowledged messages per publisher. */
function fanIn (pubs: number, perPub: (quick: boolean) => number): Scenario {
  return {
    id: pubs === 200 ? 'fanin-qos1' : `fanin-${pubs}-qos1`,
    title: `fan-in ${pubs} publishers -> 1 wildcard subscriber, QoS 1, window 10`,
    primary: 'rate',
    placement: 'split',
    summary: ['rate', 'cpuPer100k', 'lost', 'ackedLost'],
    describe: quick => `${pubs} publishers each send up to ${perPub(quick).toLocaleString('en')} messages at QoS 1 (10 unacknowledged each) to ` +
      'bench/in/<n>; one subscriber on bench/in/# (QoS 1) receives them all. A broker that acknowledges and then drops (queue limit) shows up in the acknowledged-but-lost row.' +
      (pubs < 100 ? ' With few publishers the rate is bound by each PUBLISH -> PUBACK round trip, not by the broker\'s CPU.' : ''),
    async run (target, quick) {
      const o = await runFlow(target, { ...base(quick), pubs, subs: 1, qos: 1, perPub: perPub(quick), window: 10, topic: 'bench/in/{i}', filter: 'bench/in/#' })
      return result(o, throughput(o, 'delivered msgs/s', 'msgs/s'), 1)
    }
  }
}

/** Unmeasured seconds of the same stream before a latency scenario measures (every target). */
const WARM_UP_SECONDS = 10

function latency (rate: number): Scenario {
  const seconds = (quick: boolean): number => quick ? 1 : 10
  return {
    id: `latency-${rate / 1000}k`,
    title: `latency at ${rate.toLocaleString('en')} msgs/s, QoS 1`,
    primary: 'p99',
    placement: 'split',
    summary: ['p50', 'p99', 'p999', 'max', 'coldP99', 'ackedLost'],
    describe: quick => `One publisher sends ${rate.toLocaleString('en')} msgs/s at QoS 1 for ${seconds(quick)} s on a fixed schedule; each payload carries its ` +
      'scheduled send time, so a stall counts against the broker (no coordinated omission). The subscriber (QoS 1) records delivery latency in an HdrHistogram.',
    async run (target, quick) {
      const flow = { ...base(quick), rate, latency: true, pubs: 1, subs: 1, qos: 1 as const, window: 1000, topic: 'bench/lat', filter: 'bench/lat' }
      const ms = (v: number | undefined): number | null => v === undefined ? null : v / 1000
      // A fresh Node process compiles its hot paths and sizes its heap during its first seconds
      // at a new load: at 10k msgs/s its first 10 s gave p99 4-18 ms, later runs against the same
      // process 1.4-3.2 ms, Mosquitto 2.1-2.8 (bench/README.md). Every target first gets
      // WARM_UP_SECONDS of the same stream, reported apart as "cold", so that the measured
      // figures are a running broker's.
      const cold = quick ? null : await runFlow(target, { ...flow, capMs: WARM_UP_SECONDS * 1000 + 2000, perPub: rate * WARM_UP_SECONDS })
      const o = await runFlow(target, { ...flow, capMs: seconds(quick) * 1000 + 2000, perPub: rate * seconds(quick) })
      const h = o.histogram
      return result(o, [
        metric('p50', 'p50 latency', 'ms', 'lower', ms(h?.getValueAtPercentile(50))),
        metric('p99', 'p99 latency', 'ms', 'lower', ms(h?.getValueAtPercentile(99))),
        metric('p999', 'p99.9 latency', 'ms', 'lower', ms(h?.getValueAtPercentile(99.9))),
        metric('max', 'max latency', 'ms', 'lower', ms(h?.maxValue)),
        metric('coldP99', `p99 latency of the first ${WARM_UP_SECONDS} s (fresh process, not counted above)`, 'ms', 'none', ms(cold?.histogram?.getValueAtPercentile(99))),
        metric('rate', 'delivered msgs/s', 'msgs/s', 'none', o.deliveriesPerSecond)
      ], 1)
    }
  }
}

export const messagingScenarios: Scenario[] = [
  oneToOne(0), oneToOne(1), oneToOne(1, 10), oneToOne(2), bridgeQos1('durable'), bridgeQos1('written'), fanOut, shared,
  fanIn(200, quick => quick ? 100 : 1_000), fanIn(10, quick => quick ? 2_000 : 40_000), latency(1_000), latency(5_000), latency(10_000)
]
