// What a soak probe is given and what it hands back, and the small measurements every probe
// shares (RSS, percentiles, stored sessions, a Mosquitto on a free port).
import { rssKb } from '../bench/procstat.js'
import { choosePlacement } from '../bench/placement.js'
import { startTarget, type RunningTarget } from '../bench/targets.js'
import type { BrokerProcess } from '../test/helpers/broker.js'

export interface SoakContext {
  /** --minutes / 10: counts scale with it (1 at the default). */
  scale: number
  seed: number
  /** When this probe should be done (ms since the epoch); loops stop there and say how far they got. */
  deadline: number
  log: (line: string) => void
}

export interface Table {
  header: string[]
  rows: string[][]
}

/** One area of docs/RELIABILITY.md: what was run (method), its tables, fixed prose after them. */
export interface Section {
  title: string
  method: string
  tables: Table[]
  /** Text that stays true from run to run (causes, what is not detected). */
  prose?: string
}

export interface Probe {
  id: string
  title: string
  /** Its part of the --minutes budget (the shares of all probes add up to 1). */
  share: number
  run: (ctx: SoakContext) => Promise<Section>
}

/** `n` at the default --minutes, scaled, never below `min`. */
export const scaled = (ctx: SoakContext, n: number, min: number): number => Math.max(min, Math.round(n * ctx.scale))

export const timeLeft = (ctx: SoakContext): number => ctx.deadline - Date.now()

export function rssMiB (pid: number | undefined): number {
  return pid === undefined ? 0 : (rssKb(pid) ?? 0) / 1024
}

export const mib = (n: number): string => `${n.toFixed(0)} MB`

export const alive = (broker: BrokerProcess): boolean => broker.proc.exitCode === null && broker.proc.signalCode === null

/** The p-th percentile (0-100) of unsorted values, 0 for none. */
export function percentile (values: number[], p: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p / 100 * sorted.length))]
}

export function meanSd (values: number[]): { mean: number, sd: number } {
  if (values.length === 0) return { mean: 0, sd: 0 }
  const mean = values.reduce((a, b) => a + b, 0) / values.length
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length)
  return { mean, sd }
}

export const count = (n: number): string => n.toLocaleString('en')

/** Stored sessions of offline clients, from the admin API (the http listener is loopback, no token). */
export async function storedSessions (broker: BrokerProcess): Promise<number> {
  const answer = await (await fetch(`${broker.httpUrl}/api/sessions?limit=1`)).json() as { total: number }
  return answer.total
}

export async function metric (broker: BrokerProcess, name: string): Promise<number> {
  const text = await (await fetch(`${broker.httpUrl}/metrics`)).text()
  const line = text.split('\n').find(l => l.startsWith(name + ' ') || l.startsWith(name + '{'))
  return line === undefined ? 0 : Number(line.split(' ').pop())
}

export async function healthz (broker: BrokerProcess): Promise<string> {
  try {
    const res = await fetch(`${broker.httpUrl}/healthz`)
    return `${res.status} ${(await res.json() as { status: string }).status}`
  } catch (err) {
    return `no answer (${(err as Error).message})`
  }
}

export interface Mosquitto { port: number, pid: number | undefined, stop: () => Promise<void> }

/** /usr/sbin/mosquitto with its defaults (bench/targets.ts: max_inflight_messages as Swallow's 100) on a free port. */
export async function startMosquitto (): Promise<Mosquitto> {
  const target: RunningTarget = await startTarget({ id: 'mosquitto', label: 'Mosquitto defaults', kind: 'mosquitto' }, {}, choosePlacement('shared'))
  const endpoint = target.endpoints[0]
  return { port: endpoint.port, pid: endpoint.pid ?? undefined, stop: target.stop }
}
