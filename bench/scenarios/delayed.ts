// Delayed publish lateness (plugins/delayed): one publisher sends N QoS 1 messages to
// $delayed/<d>/bench/delayed with d spread over 1-10 s, each payload carrying its due time;
// one subscriber on bench/delayed measures arrival - due. Swallow only: Mosquitto has no
// delayed publish, node-floor is no broker. Runs in the harness process on raw sockets.
import { build } from 'hdr-histogram-js'
import mqttPacket from 'mqtt-packet'
import { publisherEndpoint, subscriberEndpoint } from '../targets.js'
import { metric, type Scenario, type ScenarioResult } from './types.js'
import { session, type Session } from './raw-session.js'

const WINDOW = 100
const TOPIC = 'bench/delayed'
const MAX_DELAY_S = 10


// Wall time in ms with sub-millisecond resolution; publisher and subscriber share this process's clock.
const now = (): number => performance.timeOrigin + performance.now()

/** Publishes `count` delayed QoS 1 messages, WINDOW in flight; resolves with how many were acknowledged. */
async function publishDelayed (pub: Session, count: number): Promise<number> {
  return await new Promise<number>(resolve => {
    let next = 0
    let acked = 0
    const send = (): void => {
      const delay = 1 + (next % MAX_DELAY_S)
      const payload = Buffer.from(JSON.stringify({ i: next, due: now() + delay * 1000 }))
      pub.socket.write(mqttPacket.generate({ cmd: 'publish', topic: `$delayed/${delay}/${TOPIC}`, payload, qos: 1, retain: false, dup: false, messageId: (next % 65535) + 1 }))
      next++
    }
    pub.onPacket(p => {
      if (p.cmd !== 'puback') return
      if (++acked === count) resolve(acked)
      else if (next < count) send()
    })
    pub.socket.once('close', () => resolve(acked))
    for (let i = 0; i < Math.min(WINDOW, count); i++) send()
  })
}

export const delayedScenario: Scenario = {
  id: 'delayed-10k',
  title: '10k delayed messages (1-10 s): lateness',
  describe: quick => `One publisher sends ${quick ? '1,000' : '10,000'} QoS 1 messages to $delayed/<d>/${TOPIC} (${WINDOW} in flight), d = 1-${MAX_DELAY_S} s in turn, ` +
    `each payload carrying its due time (send time + d); one QoS 1 subscriber on ${TOPIC} (on node B of a cluster) records arrival - due. ` +
    'Delivered, lost (acknowledged but never published; must be 0), duplicates and lateness p50/p99/max. The broker counts the delay from its receipt of the ' +
    'PUBLISH, a little after the send, so lateness includes the publish path. Swallow targets only (plugins/delayed): Mosquitto has no delayed publish.',
  primary: 'lateP99',
  summary: ['delivered', 'lost', 'lateP50', 'lateP99', 'lateMax'],
  placement: 'split',
  kinds: { only: ['swallow'], why: 'delayed publish ($delayed/...) is a Swallow plugin; Mosquitto has none and node-floor is no broker' },
  async run (target, quick, progress): Promise<ScenarioResult> {
    const count = quick ? 1000 : 10_000
    const sub = await session(subscriberEndpoint(target), 'bench-delayed-sub')
    const subscribed = new Promise<void>(resolve => sub.onPacket(p => { if (p.cmd === 'suback') resolve() }))
    sub.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: TOPIC, qos: 1 }] }))
    await subscribed
    // Lateness in microseconds; an arrival before its due time (clock granularity) counts as 0.
    const histogram = build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 })
    const seen = new Set<number>()
    let duplicates = 0
    let early = 0
    let lastArrival = now()
    const all = new Promise<void>(resolve => sub.onPacket(p => {
      if (p.cmd !== 'publish') return
      const arrival = now()
      if (p.qos > 0 && p.messageId !== undefined) sub.socket.write(mqttPacket.generate({ cmd: 'puback', messageId: p.messageId }))
      const { i, due } = JSON.parse(p.payload.toString()) as { i: number, due: number }
      if (seen.has(i)) { duplicates++; return }
      seen.add(i)
      lastArrival = arrival
      if (arrival < due) early++
      histogram.recordValue(Math.max(1, Math.round((arrival - due) * 1000)))
      if (seen.size === count) resolve()
    }))
    const pub = await session(publisherEndpoint(target), 'bench-delayed-pub')
    progress(`publishing ${count} delayed messages`)
    const started = now()
    const acked = await publishDelayed(pub, count)
    const publishSeconds = (now() - started) / 1000
    progress(`${acked} acknowledged in ${publishSeconds.toFixed(1)} s; waiting for them to come due`)
    // Cap: the last due time plus 30 s.
    await Promise.race([all, new Promise(resolve => setTimeout(resolve, MAX_DELAY_S * 1000 + 30_000))])
    pub.socket.destroy()
    sub.socket.destroy()
    const ms = (q: number): number => histogram.getValueAtPercentile(q) / 1000
    const lost = acked - seen.size
    const notes = [
      ...(lost > 0 ? [`${lost} acknowledged messages were not published within ${MAX_DELAY_S + 30} s of their send`] : []),
      ...(acked < count ? [`only ${acked} of ${count} were acknowledged`] : []),
      ...(early > 0 ? [`${early} arrived before their due time (counted as 0 ms late)`] : [])
    ]
    return {
      metrics: [
        metric('delivered', 'delayed messages delivered', 'msgs', 'higher', seen.size),
        metric('lost', 'acknowledged, never delivered', 'msgs', 'lower', lost),
        metric('duplicates', 'delivered twice', 'msgs', 'lower', duplicates),
        metric('lateP50', 'lateness p50 (arrival - due)', 'ms', 'lower', seen.size > 0 ? ms(50) : null),
        metric('lateP99', 'lateness p99', 'ms', 'lower', seen.size > 0 ? ms(99) : null),
        metric('lateMax', 'lateness max', 'ms', 'lower', seen.size > 0 ? histogram.maxValue / 1000 : null),
        metric('publishRate', 'delayed PUBLISHes acknowledged/s', 'msgs/s', 'higher', acked / Math.max(publishSeconds, 1e-6))
      ],
      notes,
      raw: { count, acked, delivered: seen.size, duplicates, early, publishSeconds, lastArrivalAfterStartS: (lastArrival - started) / 1000 }
    }
  }
}
