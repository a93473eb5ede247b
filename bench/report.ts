// Turns measured results into markdown tables (figure and ratio to the baseline) and files.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { barChart, formatNumber } from './svg.js'
import { BASELINE, type TargetSpec } from './targets.js'
import type { Metric, Scenario, ScenarioResult } from './scenarios/types.js'

/** notApplicable: the scenario does not apply to this target (Scenario.kinds), why. */
export interface Outcome { result?: ScenarioResult, error?: string, notApplicable?: string }

export interface ScenarioRecord {
  scenario: Scenario
  /** By target id, in the order the targets ran. */
  outcomes: Map<string, Outcome>
}

export interface RunInfo {
  date: string
  quick: boolean
  machine: string[]
  /** Where brokers and load ran (bench/placement.ts). */
  placement: string
  /** Each target's effective settings, by id. */
  settings: Record<string, string>
  targets: TargetSpec[]
  unavailable: TargetSpec[]
  /** The MQTT version of the load (bench/protocol.ts). */
  protocol: 4 | 5
}

/** -quick and -v5 in the results' file names. */
const fileSuffix = (info: RunInfo): string => (info.quick ? '-quick' : '') + (info.protocol === 5 ? '-v5' : '')
const protocolNote = (info: RunInfo): string => info.protocol === 5 ? ' (MQTT 5 load)' : ''

/** value / baseline; the table says per row whether higher or lower is better. */
export function ratio (m: Metric, base: Metric | undefined): number | null {
  if (m.better === 'none' || base === undefined || m.value === null || base.value === null || base.value === 0) return null
  return m.value / base.value
}

function find (o: Outcome | undefined, key: string): Metric | undefined {
  return o?.result?.metrics.find(m => m.key === key)
}

const arrow = (m: Metric): string => m.better === 'higher' ? ' ↑' : m.better === 'lower' ? ' ↓' : ''

const COUNTS = new Set(['%', 'msgs', 'conns'])

function cell (m: Metric | undefined, base: Metric | undefined, isBase: boolean): string {
  if (m === undefined) return '–'
  const r = isBase ? null : ratio(m, base)
  const v = m.value !== null && COUNTS.has(m.unit) ? Math.round(m.value) : m.value
  return formatNumber(v) + (r === null ? '' : ` (${r.toFixed(2)}x)`)
}

/** The targets that ran this scenario: a target limited to some scenarios (node-floor) has no column in the others. */
const columns = (rec: ScenarioRecord, info: RunInfo): RunInfo['targets'] =>
  info.targets.filter(t => t.only === undefined || rec.outcomes.has(t.id))

const rowLabel = (m: Metric): string => (m.label.includes(m.unit) ? m.label : `${m.label} (${m.unit})`) + arrow(m)

/** One table: metric rows (all, or only `keys`) x target columns. */
export function table (rec: ScenarioRecord, info: RunInfo, keys?: string[]): string {
  const targets = columns(rec, info)
  const ids = targets.map(t => t.id)
  const first = ids.map(id => rec.outcomes.get(id)?.result).find(r => r !== undefined)
  if (first === undefined) return ids.map(id => `- ${id}: ${rec.outcomes.get(id)?.error ?? 'not run'}`).join('\n')
  const metrics = first.metrics.filter(m => keys === undefined || keys.includes(m.key))
  const base = rec.outcomes.get(BASELINE)
  const lines = [
    `| ${rec.scenario.title} | ${targets.map(t => t.label).join(' | ')} |`,
    `|---|${targets.map(() => '---:').join('|')}|`
  ]
  for (const m of metrics) {
    const cells = ids.map(id => {
      const o = rec.outcomes.get(id)
      if (o?.notApplicable !== undefined) return 'not applicable'
      if (o?.error !== undefined) return 'failed'
      const bound = m.key === rec.scenario.primary && o?.result?.raw.generatorBound === true ? ' generator-bound' : ''
      return cell(find(o, m.key), find(base, m.key), id === BASELINE) + bound
    })
    lines.push(`| ${rowLabel(m)} | ${cells.join(' | ')} |`)
  }
  return lines.join('\n')
}

const GENERATOR_NOTE = 'A figure marked "generator-bound" was measured while the load\'s cores averaged above 85%: the load, not the broker, ' +
  'may have set it, and it is no evidence that one broker is faster than the other.'

const RATIO_NOTE = 'Each figure is followed by its ratio to Mosquitto with `max_queued_messages 0` measured in the same run ' +
  '(target / Mosquitto): on ↑ rows above 1.0x is better, on ↓ rows below 1.0x is better; rows without an arrow are context.'

function scenarioMarkdown (rec: ScenarioRecord, info: RunInfo): string {
  const parts = [
    `# ${rec.scenario.title}${protocolNote(info)}${info.quick ? ' (quick run)' : ''}`,
    '',
    `Run ${info.date}. ${rec.scenario.describe(info.quick)}`,
    '',
    table(rec, info),
    '',
    RATIO_NOTE
  ]
  const notes: string[] = []
  for (const [id, o] of rec.outcomes) {
    for (const n of o.result?.notes ?? []) notes.push(`- ${id}: ${n}`)
    if (o.error !== undefined) notes.push(`- ${id} failed: ${o.error}`)
    if (o.notApplicable !== undefined) notes.push(`- ${id}: not applicable (${o.notApplicable})`)
  }
  for (const t of info.unavailable) notes.push(`- ${t.label}: ${t.note ?? 'not available'}`)
  if (notes.length > 0) parts.push('', ...notes)
  parts.push('', `Machine: ${info.machine.join('; ')}. Placement: ${info.placement}.`, '', settingsMarkdown(info), '')
  return parts.join('\n')
}

function settingsMarkdown (info: RunInfo): string {
  return ['Settings:', ...info.targets.map(t => `- ${t.label}: ${info.settings?.[t.id] ?? 'not recorded'}`)].join('\n')
}

export function summaryMarkdown (records: ScenarioRecord[], info: RunInfo): string {
  const parts = [`Run ${info.date}${protocolNote(info)}${info.quick ? ' (quick: small counts, indicative only)' : ''}. Machine: ${info.machine.join('; ')}. ` +
    `Placement: ${info.placement}.`, '', RATIO_NOTE, '', GENERATOR_NOTE, '', settingsMarkdown(info)]
  for (const rec of records) parts.push('', table(rec, info, rec.scenario.summary))
  if (info.unavailable.length > 0) parts.push('', info.unavailable.map(t => `- ${t.label}: ${t.note ?? 'not available'}`).join('\n'))
  return parts.join('\n') + '\n'
}

/** Writes <date>-<scenario>[-quick].md/.svg per scenario, plus the raw JSON and a summary. */
export function writeResults (dir: string, records: ScenarioRecord[], info: RunInfo): string[] {
  mkdirSync(dir, { recursive: true })
  const suffix = fileSuffix(info)
  const written: string[] = []
  const put = (name: string, text: string): void => { writeFileSync(join(dir, name), text); written.push(join(dir, name)) }
  for (const rec of records) {
    const stem = `${info.date}-${rec.scenario.id}${suffix}`
    put(`${stem}.md`, scenarioMarkdown(rec, info) + `\n![chart](./${stem}.svg)\n`)
    const primary = rec.scenario.primary
    const bars = columns(rec, info).map(t => {
      const o = rec.outcomes.get(t.id)
      const lost = find(o, 'ackedLost')?.value ?? 0
      return { label: t.label, value: find(o, primary)?.value ?? null, note: lost > 0 ? `lost ${formatNumber(lost)} acknowledged` : '' }
    })
    const m0 = info.targets.map(t => find(rec.outcomes.get(t.id), primary)).find(m => m !== undefined)
    put(`${stem}.svg`, barChart(`${rec.scenario.title}: ${m0 === undefined ? primary : rowLabel(m0)}`, bars))
  }
  put(`${info.date}-summary${suffix}.md`, `# Benchmark summary\n\n${summaryMarkdown(records, info)}`)
  const json = {
    date: info.date,
    quick: info.quick,
    protocol: info.protocol,
    machine: info.machine,
    placement: info.placement,
    settings: info.settings,
    baseline: BASELINE,
    targets: info.targets,
    unavailable: info.unavailable,
    scenarios: records.map(r => ({
      id: r.scenario.id,
      title: r.scenario.title,
      description: r.scenario.describe(info.quick),
      results: Object.fromEntries([...r.outcomes].map(([id, o]) => [id, o]))
    }))
  }
  put(`${info.date}${suffix}.json`, JSON.stringify(json, null, 2) + '\n')
  return written
}

/**
 * Adds the scenarios of an earlier run of the same day (same --quick) that this run did not
 * repeat, so `--only` re-runs update the summary instead of replacing it. Each scenario's
 * table still comes from a single run.
 */
export function mergePrevious (dir: string, records: ScenarioRecord[], info: RunInfo, all: Scenario[]): ScenarioRecord[] {
  const file = join(dir, `${info.date}${fileSuffix(info)}.json`)
  if (!existsSync(file)) return records
  try {
    const prev = JSON.parse(readFileSync(file, 'utf8')) as {
      targets: TargetSpec[], scenarios: Array<{ id: string, results: Record<string, Outcome> }>, placement?: string, settings?: Record<string, string>
    }
    const kept = prev.scenarios.filter(p => !records.some(r => r.scenario.id === p.id))
    for (const t of prev.targets) if (kept.length > 0 && !info.targets.some(x => x.id === t.id)) info.targets.push(t)
    if (kept.length > 0) {
      for (const [id, settings] of Object.entries(prev.settings ?? {})) info.settings[id] ??= settings
      // The kept scenarios keep the placement they were measured with.
      const earlier = prev.placement ?? 'shared: brokers and load unpinned (before placement was recorded)'
      if (records.length === 0) info.placement = earlier
      else if (earlier !== info.placement) info.placement = `${info.placement}; scenarios kept from the day's earlier run: ${earlier}`
    }
    const merged = [...records]
    for (const p of kept) {
      const scenario = all.find(s => s.id === p.id)
      if (scenario !== undefined) merged.push({ scenario, outcomes: new Map(Object.entries(p.results)) })
    }
    return all.flatMap(s => merged.filter(r => r.scenario.id === s.id))
  } catch { return records }
}
