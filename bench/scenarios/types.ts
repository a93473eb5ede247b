// What a scenario is and what it returns; shared by the scenarios, the runner and the report.
import type { BrokerOptions, RunningTarget, TargetSpec } from '../targets.js'

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

/**
 * How a scenario uses a target with several nodes: 'split' = publishers on node A, subscribers
 * on node B; 'alternate' = devices alternate between the nodes; nodeAOnly = the runner hands
 * the scenario node A alone (the reason goes into the results' notes).
 */
export type Placement = 'split' | 'alternate' | { nodeAOnly: string }

export interface Scenario {
  id: string
  title: string
  /** One paragraph for the README and the results file: what is measured and how. */
  describe: (quick: boolean) => string
  /** Metric key the chart shows. */
  primary: string
  /** Metric keys that go into the summary table (README). */
  summary: string[]
  placement: Placement
  /** Broker settings this scenario needs (password file, extra Swallow flags); none when absent. */
  broker?: () => BrokerOptions
  /** The only kinds of target the scenario applies to (absent: all); the others' report says "not applicable" and why. */
  kinds?: { only: ReadonlyArray<TargetSpec['kind']>, why: string }
  /** Why the scenario cannot run on this machine (e.g. a missing tool), or null. */
  unavailable?: () => string | null
  run: (target: RunningTarget, quick: boolean, progress: (line: string) => void) => Promise<ScenarioResult>
}

export function metric (key: string, label: string, unit: string, better: Metric['better'], value: number | null): Metric {
  return { key, label, unit, better, value: value === null || Number.isFinite(value) ? value : null }
}
