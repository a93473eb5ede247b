// Retained messages at scale: N retained topics are stored (QoS 1, acknowledged), then a new
// subscriber to "bench/retained/#" receives them all. Measures how fast, and how much broker
// memory that takes. Runs in the harness process on raw sockets (one publisher, one subscriber).
import mqttPacket from 'mqtt-packet'
import { rssKbTotal } from '../procstat.js'
import { brokerPids, publisherEndpoint, type RunningTarget } from '../targets.js'
import { metric, type Scenario, type ScenarioResult } from './types.js'
import { session } from './raw-session.js'

const PAYLOAD = Buffer.alloc(64, 'r')
const WINDOW = 500


/** Publishes `count` retained QoS 1 messages with WINDOW in flight; resolves when all are acknowledged. */
async function store (target: RunningTarget, count: number): Promise<void> {
  const pub = await session(publisherEndpoint(target), 'bench-retained-pub')
  await new Promise<void>(resolve => {
    let next = 0
    let acked = 0
    const send = (): void => {
      const id = (next % 65535) + 1
      pub.socket.write(mqttPacket.generate({ cmd: 'publish', topic: `bench/retained/${next}`, payload: PAYLOAD, qos: 1, retain: true, dup: false, messageId: id }))
      next++
    }
    pub.onPacket(p => {
      if (p.cmd !== 'puback') return
      if (++acked === count) resolve()
      else if (next < count) send()
    })
    for (let i = 0; i < Math.min(WINDOW, count); i++) send()
  })
  pub.socket.end()
}

async function deliver (target: RunningTarget, count: number, capMs: number): Promise<{ seconds: number, received: number, peakRssKb: number | null }> {
  const sub = await session(publisherEndpoint(target), 'bench-retained-sub') // node A: the runner gives this scenario node A only
  const pids = brokerPids(target)
  let peak = rssKbTotal(pids)
  const sampler = setInterval(() => {
    const now = rssKbTotal(pids)
    if (now !== null && (peak === null || now > peak)) peak = now
  }, 50)
  const started = performance.now()
  let received = 0
  let last = started
  await new Promise<void>(resolve => {
    const cap = setTimeout(resolve, capMs)
    sub.onPacket(p => {
      if (p.cmd !== 'publish' || !p.retain) return
      last = performance.now()
      if (++received === count) {
        clearTimeout(cap)
        resolve()
      }
    })
    sub.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'bench/retained/#', qos: 0 }] }))
  })
  clearInterval(sampler)
  sub.socket.destroy()
  return { seconds: (last - started) / 1000, received, peakRssKb: peak }
}

function retainedScenario (fullCount: number, quickCount: number): Scenario {
  const id = `retained-${fullCount / 1000}k`
  return {
    id,
    title: `${fullCount / 1000}k retained messages to a new # subscriber`,
    describe: quick => `${quick ? quickCount : fullCount} retained QoS 1 messages (64 bytes, distinct topics) are stored and acknowledged, then a new client subscribes to bench/retained/# at QoS 0; time from SUBSCRIBE to the last retained message, and the broker's peak RSS meanwhile.`,
    primary: 'retainedPerSecond',
    // Storing and then reading back on one node is the measurement; spreading it would mostly measure Redis.
    placement: { nodeAOnly: 'storing and reading back the retained messages is one node\'s work' },
    summary: ['retainedPerSecond', 'peakRss'],
    async run (target, quick, progress): Promise<ScenarioResult> {
      const count = quick ? quickCount : fullCount
      progress(`storing ${count} retained messages`)
      await store(target, count)
      const rssBefore = rssKbTotal(brokerPids(target))
      progress('subscribing to bench/retained/#')
      const r = await deliver(target, count, quick ? 30_000 : 120_000)
      return {
        metrics: [
          metric('retainedPerSecond', 'retained messages delivered/s', 'msgs/s', 'higher', r.received / Math.max(r.seconds, 1e-6)),
          metric('seconds', `time to deliver all ${count}`, 's', 'lower', r.received === count ? r.seconds : null),
          metric('missing', 'retained messages not delivered', 'msgs', 'lower', count - r.received),
          metric('peakRss', 'broker peak RSS while delivering', 'MiB', 'lower', r.peakRssKb === null ? null : r.peakRssKb / 1024),
          metric('rssBefore', 'broker RSS before subscribing', 'MiB', 'none', rssBefore === null ? null : rssBefore / 1024)
        ],
        notes: r.received === count ? [] : [`only ${r.received} of ${count} arrived within the time cap`],
        raw: { count, ...r, rssBeforeKb: rssBefore }
      }
    }
  }
}

export const retainedScenarios: Scenario[] = [retainedScenario(100_000, 10_000)]
