// What a scenario is and what it returns; shared by the scenarios, the runner and the report.
import type { RunningTarget } from '../targets.js'

export interface Metric {
  key: string
  label: string
  unit: string
  /** Which direction is better; 'none' for context figures (CPU use, counts). */
  better: 'higher' | 'lower' | 'none'
  value: number | null
}

export interface ScenarioResult {
  metrics: Metric[]
  notes: string[]
  raw: Record<string, unknown>
}

export interface Scenario {
  id: string
  title: string
  /** One paragraph for the README and the results file: what is measured and how. */
  describe: (quick: boolean) => string
  /** Metric key the chart shows. */
  primary: string
  /** Metric keys that go into the summary table (README). */
  summary: string[]
  run: (target: RunningTarget, quick: boolean, progress: (line: string) => void) => Promise<ScenarioResult>
}

export function metric (key: string, label: string, unit: string, better: Metric['better'], value: number | null): Metric {
  return { key, label, unit, better, value: value === null || Number.isFinite(value) ? value : null }
}
