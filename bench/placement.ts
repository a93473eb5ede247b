// Where the brokers and the load run. "pinned" (the default): every broker process (Swallow,
// Mosquitto, the Node floor, a cluster's nodes together with their redis-server) runs on
// core 0, and the harness with every load process it forks on the other cores, so that a
// broker never competes with its own load for a core, and a broker whose writes make the load
// expensive (one syscall per packet) cannot steal the cost back from the load's core. Pinning
// uses `taskset` from util-linux: broker commands are started through it, and the harness
// pins itself at start, which its forked load processes inherit. "shared": no pinning, as
// before 2026-12-02 (for comparison). On a one-core machine both are the same.
import { execFileSync } from 'node:child_process'
import { cpus } from 'node:os'

export type PlacementMode = 'pinned' | 'shared'

export interface Placement {
  mode: PlacementMode
  /** taskset core list for broker processes, null when not pinned. */
  brokerCores: string | null
  /** Core numbers the load runs on (all cores when not pinned), for the headroom figure. */
  loadCores: number[]
  /** One line for the results. */
  description: string
}

export function choosePlacement (requested: PlacementMode): Placement {
  const n = cpus().length
  const all = Array.from({ length: n }, (_, i) => i)
  if (requested === 'shared' || n < 2) {
    const why = n < 2 ? ' (one core: nothing to pin)' : ''
    return { mode: 'shared', brokerCores: null, loadCores: all, description: `shared: brokers and load unpinned on ${n} cores${why}` }
  }
  const load = all.slice(1)
  const loadList = load.length === 1 ? '1' : `1-${n - 1}`
  try {
    execFileSync('taskset', ['-pc', loadList, String(process.pid)], { stdio: 'ignore' })
  } catch {
    throw new Error('--placement pinned needs taskset (Debian package util-linux); install it or pass --placement shared')
  }
  return { mode: 'pinned', brokerCores: '0', loadCores: load, description: `pinned: brokers on core 0, load on core${load.length > 1 ? 's' : ''} ${loadList} (taskset)` }
}

/** The command and arguments that start `cmd` on the broker's cores. */
export function onBrokerCores (placement: Placement, cmd: string, args: string[]): [string, string[]] {
  return placement.brokerCores === null ? [cmd, args] : ['taskset', ['-c', placement.brokerCores, cmd, ...args]]
}

/**
 * The command and arguments that start `cmd` on every core: for the plugin benchmarks, which
 * start their own broker and clients side by side (the pinned harness's affinity would
 * otherwise put both on the load cores).
 */
export function onAllCores (placement: Placement, cmd: string, args: string[]): [string, string[]] {
  const n = cpus().length
  return placement.mode === 'shared' ? [cmd, args] : ['taskset', ['-c', `0-${n - 1}`, cmd, ...args]]
}
