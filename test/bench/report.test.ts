// The benchmark report's tables: one column per target that ran the scenario, so a target
// limited to some scenarios (node-floor: the connection scenarios) is absent from the others;
// a scenario limited to some kinds of target (delayed-10k: Swallow) says "not applicable".
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { table, type Outcome, type RunInfo, type ScenarioRecord } from '../../bench/report.js'
import { BUILTIN_TARGETS } from '../../bench/targets.js'
import { metric, type Scenario } from '../../bench/scenarios/types.js'

const scenario = (id: string): Scenario => ({
  id, title: id, describe: () => id, primary: 'rate', summary: ['rate'], placement: 'alternate', run: async () => ({ metrics: [], notes: [], raw: {} })
})
const ran = (value: number): { result: { metrics: ReturnType<typeof metric>[], notes: string[], raw: Record<string, unknown> } } =>
  ({ result: { metrics: [metric('rate', 'connects/s', 'conns/s', 'higher', value)], notes: [], raw: {} } })

test('node-floor has a column only in the scenarios it ran; ratios are to mosquitto-unlimited', () => {
  const targets = BUILTIN_TARGETS.filter(t => ['swallow-embedded', 'mosquitto-unlimited', 'node-floor'].includes(t.id))
  const info: RunInfo = { date: '2026-11-22', quick: false, machine: [], placement: 'pinned', settings: {}, targets, unavailable: [], protocol: 4 as const }
  const idle: ScenarioRecord = { scenario: scenario('idle-10k'), outcomes: new Map([['swallow-embedded', ran(500)], ['mosquitto-unlimited', ran(1000)], ['node-floor', ran(750)]]) }
  const pubsub: ScenarioRecord = { scenario: scenario('pubsub-qos0'), outcomes: new Map([['swallow-embedded', ran(2000)], ['mosquitto-unlimited', ran(1000)]]) }
  const idleTable = table(idle, info)
  assert.match(idleTable, /Node floor \(no broker\)/)
  assert.match(idleTable, /\| 500 \(0\.50x\) \| 1,000 \| 750 \(0\.75x\) \|/)
  const pubsubTable = table(pubsub, info)
  assert.doesNotMatch(pubsubTable, /Node floor/)
  assert.match(pubsubTable, /\| 2,000 \(2\.00x\) \| 1,000 \|/)
})

test('a primary figure measured while the load cores were above 85% is marked generator-bound', () => {
  const targets = BUILTIN_TARGETS.filter(t => ['swallow-embedded', 'mosquitto-unlimited'].includes(t.id))
  const info: RunInfo = { date: '2026-12-02', quick: false, machine: [], placement: 'pinned', settings: {}, targets, unavailable: [], protocol: 4 as const }
  const bound = ran(900)
  bound.result.raw.generatorBound = true
  const rec: ScenarioRecord = { scenario: scenario('fanin-qos1'), outcomes: new Map([['swallow-embedded', ran(450)], ['mosquitto-unlimited', bound]]) }
  assert.match(table(rec, info), /\| 450 \(0\.50x\) \| 900 generator-bound \|/)
})

test('a scenario for Swallow targets only: the others\' cells say "not applicable", not "failed", and no ratio is made', () => {
  const targets = BUILTIN_TARGETS.filter(t => ['swallow-embedded', 'mosquitto-unlimited', 'node-floor'].includes(t.id))
  const info: RunInfo = { date: '2026-12-04', quick: false, machine: [], placement: 'pinned', settings: {}, targets, unavailable: [], protocol: 4 as const }
  const na: Outcome = { notApplicable: 'a Swallow plugin' }
  const rec: ScenarioRecord = { scenario: scenario('delayed-10k'), outcomes: new Map<string, Outcome>([['swallow-embedded', ran(40)], ['mosquitto-unlimited', na], ['node-floor', na]]) }
  assert.match(table(rec, info), /\| 40 \| not applicable \| not applicable \|/)
})
