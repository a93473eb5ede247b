// Bans by client id, user name or remote address, each with an optional expiry. CONNECT
// checks them in memory (a cache of the backend, so a Redis outage does not stop connects:
// the bans known before it keep applying); adding one also closes the clients it matches.
// Guarantees: see ban-backends.ts.
import type { BanBackend } from './ban-backends.js'
import { plainAddress } from './fleet-view.js'

export const BAN_KINDS = ['clientId', 'username', 'address'] as const
export type BanKind = typeof BAN_KINDS[number]

export interface Ban {
  kind: BanKind
  value: string
  reason: string | null
  createdAt: number
  /** Date.now() deadline, or null: until removed. */
  expiresAt: number | null
  /** Which token added it. */
  by: string
}

export interface Candidate { clientId: string, username: string | null, remoteAddress: string }

const key = (kind: BanKind, value: string): string => `${kind}\u0000${kind === 'address' ? plainAddress(value) : value}`

export class BanList {
  private readonly bans = new Map<string, Ban>()

  constructor (private readonly backend: BanBackend) {}

  /** Loads what the backend holds (at start, and when another node changed it). */
  async load (): Promise<void> {
    const loaded = await this.backend.load()
    this.bans.clear()
    for (const ban of loaded) this.bans.set(key(ban.kind, ban.value), ban)
  }

  /** The ban in force that refuses this client, or null. */
  match (c: Candidate, now = Date.now()): Ban | null {
    if (this.bans.size === 0) return null
    return this.live(key('clientId', c.clientId), now) ??
      (c.username !== null ? this.live(key('username', c.username), now) : null) ??
      this.live(key('address', c.remoteAddress), now)
  }

  private live (k: string, now: number): Ban | null {
    const ban = this.bans.get(k)
    return ban !== undefined && (ban.expiresAt === null || ban.expiresAt > now) ? ban : null
  }

  /** The bans in force, sorted by kind and value (expired ones are removed as they are seen). */
  list (now = Date.now()): Ban[] {
    const out: Ban[] = []
    for (const [k, ban] of this.bans) {
      if (ban.expiresAt !== null && ban.expiresAt <= now) {
        this.bans.delete(k)
        this.backend.remove(ban.kind, ban.value).catch(() => {})
        continue
      }
      out.push(ban)
    }
    return out.sort((a, b) => a.kind.localeCompare(b.kind) || a.value.localeCompare(b.value))
  }

  /** Stored before it resolves (the backend's guarantee); replaces a ban of the same kind and value. */
  async add (ban: Ban): Promise<void> {
    const stored = ban.kind === 'address' ? { ...ban, value: plainAddress(ban.value) } : ban
    await this.backend.put(stored)
    this.bans.set(key(ban.kind, ban.value), stored)
  }

  /** The other nodes read the bans again (call after acting on a change). */
  async announce (): Promise<void> {
    await this.backend.announce()
  }

  /** False when there was no such ban. */
  async remove (kind: BanKind, value: string): Promise<boolean> {
    const k = key(kind, value)
    const known = this.bans.has(k)
    const removed = await this.backend.remove(kind, kind === 'address' ? plainAddress(value) : value)
    this.bans.delete(k)
    return known || removed
  }
}
