// `npm run bench`: starts each target in turn, runs the selected scenarios against it with the
// same parameters, and writes tables (figure + ratio to Mosquitto unlimited), JSON and SVG.
import { execFileSync } from 'node:child_process'
import { cpus, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { setBenchProtocol } from './protocol.js'
import { parseArgs, USAGE } from './args.js'
import { mergePrevious, summaryMarkdown, writeResults, type Outcome, type ScenarioRecord, type RunInfo } from './report.js'
import { connectionScenarios, FD_LIMIT_NOTE } from './scenarios/connections.js'
import { authConnect } from './scenarios/auth.js'
import { messagingScenarios } from './scenarios/messaging.js'
import { retainedScenarios } from './scenarios/retained.js'
import { delayedScenario } from './scenarios/delayed.js'
import { runPluginBenchmarks } from './plugins.js'
import { metric, type Metric, type Scenario, type ScenarioResult } from './scenarios/types.js'
import { choosePlacement, type Placement } from './placement.js'
import { MachineCpu } from './procstat.js'
import { BASELINE, BUILTIN_TARGETS, externalTarget, nodeAOnly, startTarget, targetSettings, type RunningTarget, type TargetSpec } from './targets.js'

const ALL: Scenario[] = [...messagingScenarios, ...connectionScenarios, authConnect, ...retainedScenarios, delayedScenario]
const PENDING = 'plugin benchmarks (retained 10k/100k/1M, log bridge durable vs none, catch-up): bench/results/<date>-plugins.md; ' +
  'auth: scenario auth-connect; log bridge against Mosquitto: scenario bridge-qos1; two-node Redis cluster: target swallow-redis-2'

function selectScenarios (only: string[] | null): Scenario[] {
  if (only === null) return ALL
  const picked = ALL.filter(s => only.some(o => s.id === o || s.id.startsWith(`${o}-`)))
  const unknown = only.filter(o => !ALL.some(s => s.id === o || s.id.startsWith(`${o}-`)))
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${ALL.map(s => s.id).join(', ')}`)
  return picked
}

// The targets a run measures when --targets is not given: the full run keeps under 15 minutes
// on the 2-core machine with broker and load pinned (all seven targets took 22), the quick run
// under 3. `--targets all` measures every built-in target.
const DEFAULT_TARGETS = ['swallow-embedded', 'swallow-redis', 'mosquitto', BASELINE, 'node-floor']
const QUICK_TARGETS = ['swallow-embedded', BASELINE, 'node-floor']

function selectTargets (requested: string[] | null, externals: string[], quick: boolean): { run: TargetSpec[], unavailable: TargetSpec[] } {
  const known = new Map(BUILTIN_TARGETS.map(t => [t.id, t]))
  const ids = requested === null ? (quick ? QUICK_TARGETS : DEFAULT_TARGETS) : requested.includes('all') ? [...known.keys()] : requested
  for (const id of ids) if (!known.has(id)) throw new Error(`unknown target ${id}; known: all, ${[...known.keys()].join(', ')}`)
  let chosen = BUILTIN_TARGETS.filter(t => ids.includes(t.id))
  if (!chosen.some(t => t.id === BASELINE)) chosen = [...chosen, known.get(BASELINE) as TargetSpec]
  const all = [...chosen, ...externals.map(externalTarget)]
  return { run: all.filter(t => t.kind !== 'unavailable'), unavailable: all.filter(t => t.kind === 'unavailable') }
}

function machine (): string[] {
  const sh = (cmd: string, args: string[]): string => {
    try { return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0].trim() } catch (err) {
      // mosquitto -h exits non-zero but still prints its version
      const out = (err as { stdout?: string }).stdout ?? ''
      return out.split('\n')[0].trim() || 'unknown'
    }
  }
  return [`nproc ${sh('nproc', ['--all'])} (${cpus()[0]?.model ?? 'cpu'})`, `node ${process.version}`, sh('/usr/sbin/mosquitto', ['-h']), FD_LIMIT_NOTE]
}

const log = (line: string): void => { process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`) }

/** What the results should say about where the clients went and what the broker figures cover. */
function placementNotes (scenario: Scenario, target: TargetSpec, running: RunningTarget): string[] {
  const notes: string[] = []
  if (scenario.broker !== undefined && target.kind === 'external') notes.push('external broker: the harness did not configure it for this scenario')
  const n = running.endpoints.length
  if (n < 2) return notes
  const p = scenario.placement
  if (typeof p === 'object') notes.push(`ran against node A only (${p.nodeAOnly}); the other node idled. Broker RSS/CPU: node A only.`)
  else {
    notes.push(p === 'split'
      ? 'publishers connected to node A, subscribers to node B: every message crossed the cluster through Redis.'
      : `devices alternated between the ${n} nodes.`)
    notes.push(`broker RSS and CPU are the sum of the ${n} broker processes (CPU can exceed 100% of one core); the redis-server is not counted.`)
  }
  return notes
}

async function measure (target: TargetSpec, scenario: Scenario, running: RunningTarget, quick: boolean, name: string): Promise<ScenarioResult> {
  const view = typeof scenario.placement === 'object' ? nodeAOnly(running) : running
  const result = await scenario.run(view, quick, line => log(`${name}: ${line}`))
  result.notes.push(...placementNotes(scenario, target, running))
  return result
}

async function runOnce (target: TargetSpec, scenario: Scenario, quick: boolean, name: string, placement: Placement): Promise<Outcome> {
  let running: RunningTarget | undefined
  try {
    running = await startTarget(target, scenario.broker?.() ?? {}, placement)
    const machineCpu = new MachineCpu()
    const load = loadavg()[0]
    const result = await measure(target, scenario, running, quick, name)
    // The machine may be shared: record how busy it was, so a reader can discount a noisy figure.
    const busy = machineCpu.percent()
    result.raw.machineCpuPercent = busy
    result.raw.loadAverageBefore = load
    result.metrics.push(metric('machineCpu', `whole machine CPU busy (% of ${cpus().length} cores)`, '%', 'none', busy))
    const head = result.metrics.filter(m => scenario.summary.includes(m.key))
      .map(m => `${m.label} ${m.value === null ? 'n/a' : Math.round(m.value * 100) / 100}`).join(', ')
    log(`${name}: ${head}`)
    return { result }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    log(`${name}: FAILED ${message}`)
    return { error: message.split('\n')[0] }
  } finally {
    await running?.stop()
  }
}

/** Runs a scenario `repeat` times and keeps the run with the best primary figure. */
async function runBest (target: TargetSpec, scenario: Scenario, quick: boolean, repeat: number, name: string, placement: Placement): Promise<Outcome> {
  let best: Outcome | undefined
  const primary = (o: Outcome | undefined): Metric | undefined => o?.result?.metrics.find(m => m.key === scenario.primary)
  for (let i = 0; i < repeat; i++) {
    log(`${name}: starting${repeat > 1 ? ` (run ${i + 1} of ${repeat})` : ''}`)
    const o = await runOnce(target, scenario, quick, name, placement)
    const a = primary(o)?.value ?? null
    const b = primary(best)?.value ?? null
    const better = best === undefined || (a !== null && (b === null ||
      (primary(o)?.better === 'lower' ? a < b : a > b)))
    if (better) best = o
  }
  if (repeat > 1 && best?.result !== undefined) best.result.notes.push(`best of ${repeat} runs by ${scenario.primary}`)
  return best as Outcome
}

async function main (): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  if (args.help) { process.stdout.write(USAGE); return }
  // "plugins" is not a scenario: it selects the plugin benchmarks (bench/plugins.ts).
  const withPlugins = !args.render && (args.only === null || args.only.includes('plugins'))
  const only = args.only?.filter(o => o !== 'plugins') ?? null
  const scenarios = args.render ? [] : (only !== null && only.length === 0 ? [] : selectScenarios(only))
  const { run: selected, unavailable } = selectTargets(args.targets, args.externals, args.quick)
  const targets = args.render ? [] : selected
  const machineLines = machine()
  const placement = choosePlacement(args.placement)
  setBenchProtocol(args.protocol) // inherited by the generator processes
  const info: RunInfo = {
    date: new Date().toISOString().slice(0, 10),
    quick: args.quick,
    protocol: args.protocol,
    machine: machineLines,
    placement: placement.description,
    settings: Object.fromEntries(targets.map(t => [t.id, targetSettings(t)])),
    targets,
    unavailable
  }
  log(`placement ${placement.description}`)
  const records: ScenarioRecord[] = scenarios.map(scenario => ({ scenario, outcomes: new Map() }))
  log(`${scenarios.length} scenarios x ${targets.length} targets${args.quick ? ' (quick)' : ''}: ${targets.map(t => t.id).join(', ')}`)
  for (const t of unavailable) log(`skipping ${t.id}: ${t.note ?? 'not available'}`)
  const t0 = Date.now()
  const applies = (rec: ScenarioRecord, t: TargetSpec): boolean => rec.scenario.kinds?.only.includes(t.kind) ?? true
  const runs = (rec: ScenarioRecord): TargetSpec[] => targets.filter(t => (t.only === undefined || t.only.includes(rec.scenario.id)) && applies(rec, t))
  // A scenario for some kinds of target only: the others get a "not applicable" column, not a failure.
  for (const rec of records) for (const t of targets) if (!applies(rec, t)) rec.outcomes.set(t.id, { notApplicable: rec.scenario.kinds?.why ?? '' })
  const total = records.reduce((n, rec) => n + runs(rec).length, 0)
  let step = 0
  // Scenario-major: all targets run one scenario back to back, so the figures a ratio compares
  // were measured minutes apart at most (the machine may be shared and its load drift).
  for (const rec of records) {
    const missing = rec.scenario.unavailable?.() ?? null
    if (missing !== null) {
      log(`!!! SKIPPING ${rec.scenario.id}: ${missing} !!!`)
      for (const target of runs(rec)) rec.outcomes.set(target.id, { error: `skipped: ${missing}` })
      step += runs(rec).length
      continue
    }
    for (const target of runs(rec)) {
      const name = `[${++step}/${total}] ${target.id} / ${rec.scenario.id}`
      const outcome = await runBest(target, rec.scenario, args.quick, args.repeat, name, placement)
      rec.outcomes.set(target.id, outcome)
    }
  }
  const outDir = args.outDir ?? fileURLToPath(new URL('../../bench/results/', import.meta.url))
  const all = mergePrevious(outDir, records, info, ALL)
  const files = writeResults(outDir, all, info)
  if (withPlugins) files.push(await runPluginBenchmarks(outDir, info.date, args.quick, placement, log))
  log(`done in ${Math.round((Date.now() - t0) / 1000)} s; wrote ${files.length} files to ${outDir}`)
  process.stdout.write(`\n${summaryMarkdown(all, info)}\n${PENDING}.\n`)
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
