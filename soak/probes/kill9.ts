// Probe 2: kill -9 cycles. A QoS 1 publisher streams to a persistent-session subscriber; the
// broker is killed (kill -9) mid-stream, started again on the same storage, the subscriber
// reconnects, and so on. Every acknowledged message must reach the subscriber on the connection
// it was published on or on the next one (after the restart that follows it): later is "late",
// never is "lost". Redis runs with appendfsync always, and one cycle in three kills it too.
import { rng } from '../../devices/simulator/profiles.js'
import { startBroker, type BrokerProcess } from '../../test/helpers/broker.js'
import { connect, connectCollecting, publishStream, type MqttClient, type Received } from '../../test/helpers/mqtt.js'
import { startRedis, type RedisProcess } from '../../test/helpers/redis.js'
import { hasBinary, sleep, tempDir, waitFor } from '../../test/helpers/system.js'
import { count, scaled, timeLeft, type Probe, type SoakContext } from '../probe.js'

interface Outcome { cycles: number, redisKills: number, acked: number, lost: number, late: number, lateCycles: number[], duplicates: number, seconds: number }

async function cycles (ctx: SoakContext, storage: 'embedded' | 'redis', n: number, until: number): Promise<Outcome> {
  const rnd = rng(ctx.seed + (storage === 'redis' ? 2 : 1))
  const dir = tempDir('swallow-soak-kill9-')
  const redis: RedisProcess | null = storage === 'redis' ? await startRedis(['--appendonly', 'yes', '--appendfsync', 'always']) : null
  const start = async (): Promise<BrokerProcess> => await startBroker({ dataDir: dir.path, storage, redisUrl: redis?.url })
  const ackedIn = new Map<string, number>() // payload -> the cycle whose broker acknowledged it
  const received: Received[][] = [] // per subscriber connection (one per cycle, and a last one)
  const seen = (): Set<string> => new Set(received.flat().map(m => m.payload))
  const everyAckedSeen = (): boolean => { const s = seen(); return [...ackedIn.keys()].every(p => s.has(p)) }
  const t0 = Date.now()
  let done = 0
  let redisKills = 0
  try {
    for (let c = 0; c <= n; c++) {
      const broker = await start()
      const { client: sub, got } = await connectCollecting(broker.mqttUrl, { clientId: 'k9-sub', clean: false })
      received.push(got)
      sub.on('error', () => {}) // the kill -9 may reset the connection
      if (c === 0) await sub.subscribeAsync('k9/#', { qos: 1 })
      // What the crash left in the stored queue arrives on this connection.
      await waitFor(everyAckedSeen, 5000, 'the stored queue').catch(() => {})
      const last = c === n || (c > 0 && Date.now() > until)
      if (last) {
        // The last start: no crash; a sentinel behind the queue ends the wait.
        const pub = await connect(broker.mqttUrl, { clientId: 'k9-pub' })
        await pub.publishAsync('k9/sentinel', 'end', { qos: 1 })
        await waitFor(() => got.some(m => m.payload === 'end'), 10_000, 'the sentinel').catch(() => {})
        await Promise.all([pub.endAsync(), sub.endAsync()])
        await broker.stop()
        break
      }
      const pub: MqttClient = await connect(broker.mqttUrl, { clientId: 'k9-pub' })
      pub.on('error', () => {})
      const stream = publishStream(pub, 'k9/x', 1e9, 20, `c${c}-`)
      await sleep(1000 + Math.floor(rnd() * 2000))
      const killRedis = redis !== null && c % 3 === 2
      if (killRedis) await redis.crash()
      await broker.crash()
      if (killRedis) { redisKills++; await redis.start() }
      for (const p of stream.acked) ackedIn.set(p, c)
      pub.end(true)
      sub.end(true)
      done++
      ctx.log(`${storage} cycle ${c + 1}/${n}: ${count(stream.acked.size)} acknowledged${killRedis ? ', redis-server killed too' : ''}`)
    }
  } finally {
    await redis?.stop()
    dir.remove()
  }
  const firstOn = new Map<string, number>()
  let duplicates = 0
  received.forEach((got, conn) => {
    for (const m of got) {
      if (firstOn.has(m.payload)) duplicates++
      else firstOn.set(m.payload, conn)
    }
  })
  let lost = 0
  const late = new Map<number, number>()
  for (const [payload, cycle] of ackedIn) {
    const conn = firstOn.get(payload)
    if (conn === undefined) lost++
    else if (conn > cycle + 1) late.set(cycle, (late.get(cycle) ?? 0) + 1)
  }
  return { cycles: done, redisKills, acked: ackedIn.size, lost, late: [...late.values()].reduce((a, b) => a + b, 0), lateCycles: [...late.keys()].map(c => c + 1), duplicates, seconds: (Date.now() - t0) / 1000 }
}

export const kill9Probe: Probe = {
  id: 'kill9',
  title: 'kill -9 cycles',
  share: 0.25,
  run: async ctx => {
    const n = scaled(ctx, 10, 2)
    const storages: Array<'embedded' | 'redis'> = hasBinary('redis-server') ? ['embedded', 'redis'] : ['embedded']
    const rows: string[][] = []
    for (const [i, storage] of storages.entries()) {
      // Each storage gets its part of what is left of the budget.
      const until = Date.now() + timeLeft(ctx) / (storages.length - i) - 8000
      const o = await cycles(ctx, storage, n, until)
      rows.push([storage, `${o.cycles}${o.cycles < n ? ` of ${n} (time budget)` : ''}${storage === 'redis' ? `, ${o.redisKills} with redis-server killed` : ''}`,
        count(o.acked), o.lost === 0 ? '0' : `**${count(o.lost)}**`,
        o.late === 0 ? '0' : `**${count(o.late)}** (published in cycle ${o.lateCycles.join(', ')})`, count(o.duplicates), `${o.seconds.toFixed(0)} s`])
    }
    return {
      title: 'kill -9 cycles',
      method: `An MQTT.js QoS 1 publisher (20 in flight) streams to a persistent-session subscriber
(CleanSession 0, \`k9/#\` QoS 1) for 1-3 s (seeded), then the broker gets \`kill -9\` and starts
again on the same storage; the subscriber reconnects. Redis: a redis-server with
\`appendonly yes\`, \`appendfsync always\`, killed (\`kill -9\`) with the broker in one cycle in
three and started again. An acknowledged message is on time when it arrives on the
subscriber's connection of the cycle it was published in or of the next one (the restart
after the crash), **late** one reconnect later or more, **lost** when it never arrives (after a
last start with a sentinel behind the queue). Duplicates are allowed by QoS 1 (deliveries not
yet acknowledged at the crash come again). Tests: test/broker/persistence.test.ts.`,
      tables: [{ header: ['storage', 'cycles', 'acknowledged', 'lost for good', 'delivered late', 'duplicates', 'time'], rows }]
    }
  }
}
