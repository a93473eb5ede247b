// Which stores are failing their writes right now (disk full, I/O error): /healthz reports
// the storage degraded while any is, and ok again once each has written successfully.
// The core's session store and the plugins' own stores (retained, log bridge) report here.
import type { Logger } from './logger.js'

export interface FailingStore {
  store: string
  since: string
  error: string
}

export class WriteHealth {
  private readonly failing = new Map<string, FailingStore>()

  constructor (private readonly log: Logger, private readonly onChange: () => void) {}

  /** A write of `store` failed for a reason outside the broker (logged once per episode). */
  failed (store: string, err: Error): void {
    if (this.failing.has(store)) return
    this.failing.set(store, { store, since: new Date().toISOString(), error: err.message })
    this.log.error({ store, err: err.message }, `${store}: writes fail (${err.message}); nothing is acknowledged that is not stored, /healthz reports degraded until writes succeed again`)
    this.onChange()
  }

  succeeded (store: string): void {
    const episode = this.failing.get(store)
    if (episode === undefined) return
    this.failing.delete(store)
    this.log.info({ store, since: episode.since }, `${store}: writes succeed again`)
    this.onChange()
  }

  get degraded (): boolean {
    return this.failing.size > 0
  }

  list (): FailingStore[] {
    return [...this.failing.values()]
  }
}
