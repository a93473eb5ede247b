// Reads a broker process's memory and CPU from /proc (Linux only; null elsewhere).
import { readFileSync } from 'node:fs'

/** Resident set size in KiB (VmRSS), or null when the process cannot be read. */
export function rssKb (pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? null : Number(m[1])
  } catch { return null }
}

/** Summed VmRSS of several processes (the nodes of a cluster) in KiB; null if none or one cannot be read. */
export function rssKbTotal (pids: readonly number[]): number | null {
  let total = 0
  for (const pid of pids) {
    const kb = rssKb(pid)
    if (kb === null) return null
    total += kb
  }
  return pids.length === 0 ? null : total
}

const TICKS_PER_SECOND = 100 // USER_HZ on Linux

/** CPU time (user + system) the process has used so far, in ms, or null. */
export function cpuMs (pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 1000 / TICKS_PER_SECOND
  } catch { return null }
}

function cpuMsTotal (pids: readonly number[]): number | null {
  let total = 0
  for (const pid of pids) {
    const ms = cpuMs(pid)
    if (ms === null) return null
    total += ms
  }
  return pids.length === 0 ? null : total
}

/**
 * Measures CPU use over an interval, as % of one core, summed over the given processes
 * (the nodes of a cluster: may exceed 100). Null when there are none (external target).
 */
export class ProcCpu {
  private startCpu: number | null = null
  private startWall = 0
  constructor (private readonly pids: readonly number[]) {}
  start (): void { this.startCpu = cpuMsTotal(this.pids); this.startWall = performance.now() }
  percent (): number | null {
    const used = this.usedMs()
    return used === null ? null : Math.round(100 * used / Math.max(1, performance.now() - this.startWall))
  }
  /** CPU milliseconds used since start(). */
  usedMs (): number | null {
    if (this.startCpu === null) return null
    const now = cpuMsTotal(this.pids)
    return now === null ? null : now - this.startCpu
  }
}

/** Machine-wide CPU busy time so far (all cores), in jiffies, and the total. */
function machineTicks (): { busy: number, total: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
    const idle = f[3] + (f[4] ?? 0)
    const total = f.reduce((a, b) => a + b, 0)
    return { busy: total - idle, total }
  } catch { return null }
}

/** Whole-machine CPU use over an interval in % of all cores: shows when other work competed. */
export class MachineCpu {
  private start0 = machineTicks()
  start (): void { this.start0 = machineTicks() }
  percent (): number | null {
    const now = machineTicks()
    if (now === null || this.start0 === null || now.total === this.start0.total) return null
    return Math.round(100 * (now.busy - this.start0.busy) / (now.total - this.start0.total))
  }
}

/** Busy and total jiffies of each listed core (the cpuN lines of /proc/stat). */
function coreTicks (cores: readonly number[]): { busy: number, total: number } | null {
  try {
    let busy = 0
    let total = 0
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^cpu(\d+)\s+(.*)$/.exec(line)
      if (m === null || !cores.includes(Number(m[1]))) continue
      const f = m[2].trim().split(/\s+/).map(Number)
      const t = f.reduce((a, b) => a + b, 0)
      total += t
      busy += t - f[3] - (f[4] ?? 0)
    }
    return total === 0 ? null : { busy, total }
  } catch { return null }
}

/** CPU use of some cores over an interval, in % of those cores (the load's headroom). */
export class CoresCpu {
  private start0: { busy: number, total: number } | null = null
  constructor (private readonly cores: readonly number[]) {}
  start (): void { this.start0 = coreTicks(this.cores) }
  percent (): number | null {
    const now = coreTicks(this.cores)
    if (now === null || this.start0 === null || now.total === this.start0.total) return null
    return Math.round(100 * (now.busy - this.start0.busy) / (now.total - this.start0.total))
  }
}
