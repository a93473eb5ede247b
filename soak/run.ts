// `npm run soak -- [--minutes N] [--only a,b] [--seed S] [--out FILE]`: the bounded fault suite
// of issue #20. Runs the probes in order against real `swallow start` processes (and the
// redis-server and Mosquitto it starts on free ports), each within its share of --minutes,
// and writes docs/RELIABILITY.md (or --out) from this run's figures.
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Probe, Section, SoakContext } from './probe.js'
import { render, type NotRun } from './report.js'
import { fuzzProbe } from './probes/fuzz.js'
import { kill9Probe } from './probes/kill9.js'
import { frozenProbe } from './probes/frozen.js'
import { churnProbe } from './probes/churn.js'
import { slowlorisProbe } from './probes/slowloris.js'
import { bombsProbe } from './probes/bombs.js'
import { diskFullProbe } from './probes/disk-full.js'
import { corruptionProbe } from './probes/corruption.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PROBES: Probe[] = [fuzzProbe, kill9Probe, frozenProbe, churnProbe, slowlorisProbe, bombsProbe, diskFullProbe, corruptionProbe]

const USAGE = `Usage: npm run soak -- [options]

  --minutes N      time budget (default 10); probe counts scale with it (N / 10)
  --only ID[,..]   run only these probes: ${PROBES.map(p => p.id).join(', ')}
  --seed S         seed of the fuzzer and the other seeded choices (default: random, printed)
  --out FILE       write the report there instead of docs/RELIABILITY.md
`

interface SoakArgs { minutes: number, only: string[] | null, seed: number, out: string, help: boolean }

function parseArgs (argv: string[]): SoakArgs {
  const a: SoakArgs = { minutes: 10, only: null, seed: Math.floor(Math.random() * 2 ** 31), out: resolve(ROOT, 'docs/RELIABILITY.md'), help: false }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    const value = (): string => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${flag} needs a value`)
      return v
    }
    if (flag === '--help' || flag === '-h') a.help = true
    else if (flag === '--minutes') {
      a.minutes = Number(value())
      if (!(a.minutes > 0 && a.minutes <= 60)) throw new Error('--minutes takes a number above 0, at most 60')
    } else if (flag === '--seed') {
      a.seed = Number(value())
      if (!Number.isInteger(a.seed) || a.seed < 0) throw new Error('--seed takes a whole number >= 0')
    } else if (flag === '--only') {
      a.only = value().split(',').map(s => s.trim()).filter(Boolean)
      const unknown = a.only.filter(id => !PROBES.some(p => p.id === id))
      if (unknown.length > 0) throw new Error(`--only: unknown probe ${unknown.join(', ')} (probes: ${PROBES.map(p => p.id).join(', ')})`)
    } else if (flag === '--out') a.out = resolve(value())
    else throw new Error(`unknown option ${flag} (npm run soak -- --help lists them)`)
  }
  return a
}

/** The short commit, "+dirty" when the tree has changes other than the report itself. */
function commit (out: string): string {
  const git = (...args: string[]): string => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim()
  try {
    const report = relative(ROOT, out)
    const dirty = git('status', '--porcelain').split('\n').filter(l => l !== '' && l.slice(3) !== report)
    return git('rev-parse', '--short', 'HEAD') + (dirty.length > 0 ? '+dirty' : '')
  } catch {
    return 'unknown (not a git checkout)'
  }
}

async function main (): Promise<number> {
  let args: SoakArgs
  try { args = parseArgs(process.argv.slice(2)) } catch (err) {
    process.stderr.write(`soak: ${(err as Error).message}\n`)
    return 2
  }
  if (args.help) { process.stdout.write(USAGE); return 0 }
  const log = (line: string): void => { process.stdout.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}\n`) }
  const started = Date.now()
  const budgetEnd = started + args.minutes * 60_000
  const selected = PROBES.filter(p => args.only === null || args.only.includes(p.id))
  let sharesLeft = selected.reduce((sum, p) => sum + p.share, 0)
  log(`seed ${args.seed} (replay: npm run soak -- --seed ${args.seed}), --minutes ${args.minutes}`)
  const sections: Section[] = []
  const notRun: NotRun[] = []
  let failed = 0
  for (const probe of PROBES) {
    if (args.only !== null && !args.only.includes(probe.id)) {
      notRun.push({ id: probe.id, title: probe.title, why: `left out of this run (\`--only ${args.only.join(',')}\`)` })
      continue
    }
    // Its share of what is left: a probe that ran over shortens the ones after it, not the run.
    const budgetMs = Math.max(5000, (budgetEnd - Date.now()) * probe.share / sharesLeft)
    sharesLeft -= probe.share
    const ctx: SoakContext = { scale: args.minutes / 10, seed: args.seed, deadline: Date.now() + budgetMs, log: line => log(`${probe.id}: ${line}`) }
    log(`${probe.id}: start (${(budgetMs / 1000).toFixed(0)} s budget)`)
    const t0 = Date.now()
    try {
      const section = await probe.run(ctx)
      if (section.tables.length === 0) notRun.push({ id: probe.id, title: probe.title, why: section.method })
      else sections.push(section)
    } catch (err) {
      failed++
      log(`${probe.id}: FAILED: ${(err as Error).stack ?? String(err)}`)
      notRun.push({ id: probe.id, title: probe.title, why: `the probe failed in this run: ${(err as Error).message}` })
    }
    log(`${probe.id}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  }
  const cores = cpus()
  const markdown = render({
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    commit: commit(args.out),
    machine: `${cores.length} cores (${cores[0]?.model.trim() ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    seed: args.seed,
    minutes: args.minutes,
    elapsedMs: Date.now() - started,
    command: ['npm run soak --', ...process.argv.slice(2)].join(' ').replace(/ --$/, '')
  }, sections, notRun)
  writeFileSync(args.out, markdown)
  log(`wrote ${args.out} in ${((Date.now() - started) / 60_000).toFixed(1)} min${failed > 0 ? `; ${failed} probe(s) failed` : ''}`)
  return failed > 0 ? 1 : 0
}

// Exit even if a probe left a socket or timer behind; the helpers kill their brokers on exit,
// also when the soak is interrupted.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130))
process.exit(await main())
