// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by origin
// (our code, each dependency, Node internals, GC), to find where a broker spends a scenario.
//   node dist/bench/profile.js FILE.cpuprofile [top]
import { readFileSync } from 'node:fs'

interface Node {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount?: number
  children?: number[]
}
interface Profile { nodes: Node[], startTime: number, endTime: number, samples?: number[], timeDeltas?: number[] }

function origin (url: string, fn: string): string {
  if (url === '') return fn.startsWith('(') ? fn : '(native)'
  const mod = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (mod !== null) return mod[1]
  if (url.startsWith('node:')) return 'node internals'
  const ours = /\/dist\/(src|plugins|devices|bench)\//.exec(url)
  return ours !== null ? `swallow ${ours[1]}/` : url
}

function main (): void {
  const [file, topArg] = process.argv.slice(2)
  if (file === undefined) { process.stderr.write('usage: node dist/bench/profile.js FILE.cpuprofile [top]\n'); process.exit(2) }
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const top = Number(topArg ?? 25)
  // Self time per node: samples attributed to it times the average sample interval.
  const counts = new Map<number, number>()
  for (const id of p.samples ?? []) counts.set(id, (counts.get(id) ?? 0) + 1)
  const total = (p.samples ?? []).length || p.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0)
  const msPerSample = (p.endTime - p.startTime) / 1000 / Math.max(1, total)
  const byFn = new Map<string, number>()
  const byOrigin = new Map<string, number>()
  let idle = 0
  for (const n of p.nodes) {
    const hits = counts.get(n.id) ?? n.hitCount ?? 0
    if (hits === 0) continue
    const { functionName, url, lineNumber } = n.callFrame
    if (functionName === '(idle)') { idle += hits; continue }
    const key = `${functionName || '(anonymous)'} ${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/')}:${lineNumber + 1}`
    byFn.set(key, (byFn.get(key) ?? 0) + hits)
    const o = origin(url, functionName)
    byOrigin.set(o, (byOrigin.get(o) ?? 0) + hits)
  }
  const busy = total - idle
  const pct = (h: number): string => `${(100 * h / Math.max(1, busy)).toFixed(1)}%`.padStart(6)
  const out: string[] = [`${file}: ${(total * msPerSample / 1000).toFixed(1)} s sampled, ${(100 * busy / Math.max(1, total)).toFixed(0)}% busy; shares below are of busy time`, '', 'by origin:']
  for (const [k, h] of [...byOrigin].sort((a, b) => b[1] - a[1]).slice(0, 15)) out.push(`  ${pct(h)}  ${k}`)
  out.push('', `top ${top} functions by self time:`)
  for (const [k, h] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`  ${pct(h)}  ${k}`)
  process.stdout.write(out.join('\n') + '\n')
}

main()
