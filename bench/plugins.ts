// Plugin benchmarks that need a Swallow-only setup (no Mosquitto counterpart): the retained
// store (10k/100k/1M retained to a # subscriber, broker memory, a QoS 1 stream's latency
// meanwhile) and the log bridge (QoS 1 with a durable rule vs none; a consumer catching up
// on 1,000,000 records). They run the plugins' own bench scripts and keep their output in
// bench/results/<date>-plugins.md. `npm run bench` runs them unless --only is given (then
// `--only plugins` selects them alone).
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { onAllCores, type Placement } from './placement.js'

const DIST = fileURLToPath(new URL('../', import.meta.url)) // dist/

interface Job { title: string, script: string, args: string[] }

function jobs (quick: boolean): Job[] {
  return [
    { title: 'Retained store: retained messages to a new # subscriber (QoS 1)', script: 'plugins/retained/bench.js', args: quick ? ['10000'] : ['10000', '100000', '1000000'] },
    { title: 'Log bridge: QoS 1 with a durable rule vs none; consumer catch-up', script: 'plugins/bridge/bench.js', args: quick ? ['--seconds', '2', '--records', '100000'] : [] }
  ]
}

function runJob (job: Job, placement: Placement, log: (line: string) => void): Promise<string> {
  return new Promise(resolve => {
    const proc = spawn(...onAllCores(placement, process.execPath, [join(DIST, job.script), ...job.args]), { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    proc.stdout.on('data', d => {
      out += String(d)
      for (const line of String(d).split('\n').filter(Boolean)) log(`${job.script}: ${line}`)
    })
    proc.stderr.on('data', d => { out += String(d) })
    const timer = setTimeout(() => proc.kill('SIGKILL'), 540_000)
    proc.once('exit', code => {
      clearTimeout(timer)
      resolve(code === 0 ? out : `${out}\n(exited with ${code})`)
    })
  })
}

export async function runPluginBenchmarks (outDir: string, date: string, quick: boolean, placement: Placement, log: (line: string) => void): Promise<string> {
  const sections: string[] = [`# Plugin benchmarks, ${date}${quick ? ' (quick)' : ''}`, '',
    'Swallow only (Mosquitto has no counterpart). Produced by `npm run bench` (bench/plugins.ts) running the plugins\' bench scripts, unpinned: each starts its own broker and clients side by side on every core.', '']
  for (const job of jobs(quick)) {
    log(`plugin benchmark: ${job.title}`)
    sections.push(`## ${job.title}`, '', '`node dist/' + job.script + (job.args.length ? ' ' + job.args.join(' ') : '') + '`', '', '```', (await runJob(job, placement, log)).trim(), '```', '')
  }
  const file = join(outDir, `${date}-plugins${quick ? '-quick' : ''}.md`)
  writeFileSync(file, sections.join('\n'))
  return file
}
