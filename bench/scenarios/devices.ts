// A fleet of idle devices spread over generator processes, shared by the connection scenarios
// (idle, storm) and auth-connect: connect them all, then storm or reconnect them, and merge
// the processes' results into one phase.
import { decodeFromCompressedBase64 } from 'hdr-histogram-js'
import { GenProcess, split } from '../pool.js'
import { sleep } from '../roles/common.js'
import type { Command, ConnectResult, Credentials } from '../jobs.js'
import type { RunningTarget } from '../targets.js'

const PER_PROCESS = 5_000 // generator processes stay far below their own 20,000 open files
export const CONCURRENCY = 100 // handshakes in flight across all generator processes
export const KEEPALIVE = 60

export interface Phase {
  connected: number
  failed: number
  /** Of the failed: answered with a non-zero CONNACK. */
  refused: number
  seconds: number
  p99ms: number | null
  maxMs: number | null
  /** Busiest generator process, % of one core. */
  cpu: number
}

export function merge (results: ConnectResult[]): Phase {
  const start = Math.min(...results.map(r => r.startNs))
  const last = Math.max(...results.map(r => r.lastNs))
  const h = decodeFromCompressedBase64(results[0].histogram)
  for (const r of results.slice(1)) h.add(decodeFromCompressedBase64(r.histogram))
  const connected = results.reduce((a, r) => a + r.connected, 0)
  return {
    connected,
    failed: results.reduce((a, r) => a + r.failed, 0),
    refused: results.reduce((a, r) => a + r.refused, 0),
    seconds: connected === 0 ? 0 : (last - start) / 1e9,
    p99ms: connected === 0 ? null : h.getValueAtPercentile(99) / 1000,
    maxMs: connected === 0 ? null : h.maxValue / 1000,
    cpu: Math.max(...results.map(r => Math.round(100 * r.cpuMs / Math.max(1, r.wallMs))))
  }
}

export const connectsPerSecond = (p: Phase): number | null => p.seconds > 0 ? p.connected / p.seconds : null

export interface FleetOptions {
  timeoutMs: number
  credentials?: Credentials
}

export class DeviceFleet {
  private constructor (private readonly gens: GenProcess[]) {}

  /** Forks the generator processes and hands each its devices (nothing connects yet). */
  static async create (target: RunningTarget, n: number, opts: FleetOptions): Promise<DeviceFleet> {
    // At least two processes, so the generator can use both cores while the broker waits on I/O.
    const parts = split(n, PER_PROCESS, 2)
    const gens = parts.map((_, i) => new GenProcess(`devices#${i}`))
    const endpoints = target.endpoints.map(e => ({ host: e.host, port: e.port }))
    let idBase = 0
    try {
      await Promise.all(gens.map((gen, i) => {
        const job = {
          role: 'idle' as const, endpoints, n: parts[i], idBase, keepalive: KEEPALIVE, concurrency: Math.ceil(CONCURRENCY / parts.length),
          clean: true, timeoutMs: opts.timeoutMs, ...(opts.credentials !== undefined ? { credentials: opts.credentials } : {})
        }
        idBase += parts[i]
        return gen.setup(job)
      }))
    } catch (err) {
      for (const g of gens) g.close()
      throw err
    }
    return new DeviceFleet(gens)
  }

  /** 'start' connects every device; 'storm' drops and reconnects them; 'reconnect' disconnects cleanly and connects again. */
  async round (cmd: Extract<Command, { cmd: 'start' | 'storm' | 'reconnect' }>): Promise<Phase> {
    return merge(await Promise.all(this.gens.map(g => g.ask<ConnectResult>(cmd, 300_000))))
  }

  async close (): Promise<void> {
    for (const g of this.gens) g.close()
    await sleep(500)
  }
}
