// Where delayed messages wait: embedded LevelDB, memory (local-backend.ts) or Redis
// (redis-backend.ts). Every write resolves once it is as durable as the backend makes it.
import type { DelayedRecord } from './record.js'

export interface DelayedBackend {
  readonly name: string
  open: () => Promise<void>
  /** Stores one record durably; false (nothing stored) when `maxPending` records wait already. */
  add: (record: DelayedRecord, maxPending: number) => Promise<boolean>
  /**
   * Up to `limit` records due at `now`, in due order, for this node to publish. Redis leases
   * them (another node takes them over if this one dies before remove()); the local backends
   * are read by one scheduler that removes a batch before it claims the next.
   */
  claimDue: (now: number, limit: number) => Promise<DelayedRecord[]>
  /** When to look again: the earliest due (or lease end) time, null when nothing waits. */
  nextDue: () => Promise<number | null>
  /** Deletes one record; false when it was not there (released or cancelled already). */
  remove: (id: string) => Promise<boolean>
  /** Records in id (due) order after the id `after` (null: from the first). */
  page: (after: string | null, limit: number) => Promise<DelayedRecord[]>
  pending: () => Promise<number>
  close: () => Promise<void>
}
