// Probe 1: the seeded fuzzer of test/faults/fuzz.test.ts at soak size, on embedded and Redis
// storage: the broker must stay up and a persistent QoS 1 canary stream arrive complete, once,
// in order.
import { startBroker, type BrokerOptions } from '../../test/helpers/broker.js'
import { startRedis } from '../../test/helpers/redis.js'
import { hasBinary } from '../../test/helpers/system.js'
import { runFuzz } from '../../test/faults/fuzz-packets.js'
import { alive, count, healthz, mib, rssMiB, scaled, type Probe, type SoakContext } from '../probe.js'

const PARALLEL = 16

async function fuzzOne (ctx: SoakContext, label: string, opts: BrokerOptions, packets: number): Promise<string[]> {
  const broker = await startBroker(opts)
  try {
    const canary = Math.max(50, Math.round(packets / 50))
    const before = rssMiB(broker.proc.pid)
    const t0 = Date.now()
    const result = await runFuzz(broker, { seed: ctx.seed, packets, canary, parallel: PARALLEL })
    const seconds = (Date.now() - t0) / 1000
    const inOrder = result.canary.length === canary && result.canary.every((n, i) => n === i)
    const verdict = inOrder ? 'complete, once, in order' : '**missing, repeated or out of order**'
    ctx.log(`${label}: ${count(packets)} packets in ${seconds.toFixed(1)} s, canary ${result.canary.length}/${canary}`)
    return [label, count(packets), count(result.connections), `${count(result.canary.length)} of ${count(canary)}: ${verdict}`,
      alive(broker) ? 'yes' : '**no**', await healthz(broker), `${mib(before)} → ${mib(rssMiB(broker.proc.pid))}`, `${seconds.toFixed(1)} s`]
  } finally {
    await broker.stop()
  }
}

export const fuzzProbe: Probe = {
  id: 'fuzz',
  title: 'Seeded fuzzer',
  share: 0.08,
  run: async ctx => {
    const packets = scaled(ctx, 150_000, 1000)
    const rows = [await fuzzOne(ctx, 'embedded', {}, packets)]
    if (hasBinary('redis-server')) {
      const redis = await startRedis()
      try {
        rows.push(await fuzzOne(ctx, 'redis', { storage: 'redis', redisUrl: redis.url }, Math.round(packets / 2)))
      } finally {
        await redis.stop()
      }
    } else ctx.log('redis-server not found: the Redis row is left out (apt-get install -y redis-server)')
    return {
      title: 'Seeded fuzzer',
      method: `Well-formed MQTT 3.1.1 and 5.0 packets (CONNECT with clean and persistent sessions and wills,
PUBLISH with properties, acknowledgements for unknown ids, SUBSCRIBE with shared and wildcard
filters, AUTH, DISCONNECT), mutated (bits flipped, bytes cut, inserted or repeated, lengths
rewritten), ${PARALLEL} short connections at a time, 10 packets each, seed ${ctx.seed}
(\`npm run soak -- --only fuzz --seed ${ctx.seed}\` replays it; the generator is
test/faults/fuzz-packets.ts). Meanwhile a QoS 1 canary publisher streams to a persistent canary
subscriber. Test: test/faults/fuzz.test.ts (20,000 packets, fixed seed).`,
      tables: [{ header: ['storage', 'mutated packets', 'connections', 'canary (QoS 1)', 'broker alive', '/healthz after', 'RSS before → after', 'time'], rows }]
    }
  }
}
