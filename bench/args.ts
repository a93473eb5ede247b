// Flags of `npm run bench -- [flags]`.
import type { PlacementMode } from './placement.js'
import type { BenchProtocol } from './protocol.js'

export interface BenchArgs {
  quick: boolean
  /** External brokers to measure as well (mqtt://host:port). */
  externals: string[]
  only: string[] | null
  targets: string[] | null
  outDir: string | null
  /** Runs per scenario and target; the best primary figure is kept (the machine may be shared). */
  repeat: number
  /** Rewrite tables and charts from the day's JSON without measuring anything. */
  render: boolean
  /** pinned: brokers on core 0, load on the others (bench/placement.ts); shared: unpinned. */
  placement: PlacementMode
  /** The MQTT version of the load: 4 (3.1.1) or 5. */
  protocol: BenchProtocol
  help: boolean
}

export const USAGE = `Usage: npm run bench -- [options]

  --quick                     every scenario with small counts against swallow-embedded,
                              mosquitto-unlimited and node-floor (about 2 min)
  --only SCENARIO[,..]        scenario ids or prefixes: pubsub, bridge, fanout, shared, fanin, latency, idle,
                              storm, auth, retained, delayed, pubsub-qos1, latency-10k, idle-max, ...
                              (and plugins: the plugin benchmarks)
  --targets ID[,..]           all, or: swallow-embedded, swallow-memory, swallow-redis, swallow-redis-2,
                              mosquitto, mosquitto-unlimited, node-floor (connection and latency
                              scenarios only); default: swallow-embedded, swallow-redis, mosquitto,
                              mosquitto-unlimited, node-floor (about 12 min; all: about 24);
                              mosquitto-unlimited is always run for the ratios
  --target mqtt://host:port   also measure this broker (repeatable); it is not started or stopped
  --out DIR                   results directory (default: bench/results)
  --render                    rewrite today's tables and charts from its JSON (with --quick: the quick run's)
  --repeat N                  run each scenario N times per target and keep the best primary figure
                              (useful on a shared machine; multiplies the time)
  --placement pinned|shared   pinned (default): every broker process on core 0, the harness and its
                              load processes on the other cores (taskset); shared: unpinned
  --protocol 4|5              the MQTT version the load speaks: 4 = 3.1.1 (default), 5 = MQTT 5.0
                              (results files get -v5; the retained and plugin benchmarks stay 3.1.1)
`

export function parseArgs (argv: string[]): BenchArgs {
  const a: BenchArgs = { quick: false, externals: [], only: null, targets: null, outDir: null, repeat: 1, render: false, placement: 'pinned', protocol: 4, help: false }
  const list = (v: string | undefined): string[] => (v ?? '').split(',').map(s => s.trim()).filter(Boolean)
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    const value = (): string => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${flag} needs a value\n\n${USAGE}`)
      return v
    }
    if (flag === '--quick') a.quick = true
    else if (flag === '--help' || flag === '-h') a.help = true
    else if (flag === '--render') a.render = true
    else if (flag === '--target') a.externals.push(value())
    else if (flag === '--only') a.only = list(value())
    else if (flag === '--targets') a.targets = list(value())
    else if (flag === '--out') a.outDir = value()
    else if (flag === '--placement') {
      const v = value()
      if (v !== 'pinned' && v !== 'shared') throw new Error(`--placement ${v}: expected pinned or shared`)
      a.placement = v
    } else if (flag === '--protocol') {
      const v = value()
      if (v !== '4' && v !== '5') throw new Error(`--protocol ${v}: expected 4 (MQTT 3.1.1) or 5 (MQTT 5.0)`)
      a.protocol = v === '5' ? 5 : 4
    } else if (flag === '--repeat') {
      a.repeat = Number(value())
      if (!Number.isInteger(a.repeat) || a.repeat < 1 || a.repeat > 5) throw new Error('--repeat takes 1 to 5')
    }
    else throw new Error(`unknown option ${flag}\n\n${USAGE}`)
  }
  for (const url of a.externals) {
    if (!/^mqtt:\/\/[^/]+$/.test(url)) throw new Error(`--target ${url}: expected mqtt://host:port`)
  }
  return a
}
