// Password verification for CONNECT: PBKDF2 on the thread pool, at most `concurrency` at
// a time (the pool is shared with storage and fs; a reconnect storm must not starve
// them), plus a short-lived cache of successful verifications. The cache keeps an
// HMAC of the password under a per-process random key, never the password; a wrong
// password cannot match it and is never stored, so it always pays the full PBKDF2 cost.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { PasswordEntry } from './password-file.js'
import { verifyPassword } from './password-hash.js'

/** 'gone': the client closed while its check waited for a slot; nothing was computed. */
export type Verdict = 'ok' | 'bad' | 'busy' | 'gone'

export interface VerifierOptions {
  /** How long a successful verification is remembered; 0 disables the cache. */
  cacheTtlMs: number
  maxCacheEntries: number
  /** PBKDF2 computations running at once. */
  concurrency: number
  /** Verifications allowed to wait; beyond that a CONNECT is refused as "server busy". */
  maxPending: number
}

interface CacheEntry { entryText: string, digest: Buffer, expires: number }

export class PasswordVerifier {
  private readonly key = randomBytes(32)
  private readonly cache = new Map<string, CacheEntry>()
  private running = 0
  private readonly waiting: Array<() => void> = []
  readonly stats = { cacheHits: 0, computed: 0 }

  constructor (private readonly opts: VerifierOptions) {}

  /**
   * `wanted` is asked after waiting for a slot: a client that gave up (closed) while
   * queued costs no PBKDF2, so device retries during a storm do not multiply the work.
   */
  async verify (username: string, entry: PasswordEntry, password: Buffer, wanted?: () => boolean): Promise<Verdict> {
    const digest = this.opts.cacheTtlMs > 0 ? this.digest(username, password) : null
    if (digest !== null && this.cached(username, entry, digest)) {
      this.stats.cacheHits++
      return 'ok'
    }
    if (entry.hash.kind === 'pbkdf2-sha512') {
      if (this.running >= this.opts.concurrency) {
        if (this.waiting.length >= this.opts.maxPending) return 'busy'
        // The slot is handed over by the verification that finishes (running stays).
        await new Promise<void>(resolve => this.waiting.push(resolve))
      } else {
        this.running++
      }
    }
    let ok: boolean
    try {
      if (wanted !== undefined && !wanted()) return 'gone'
      this.stats.computed++
      ok = await verifyPassword(entry.hash, password)
    } finally {
      if (entry.hash.kind === 'pbkdf2-sha512') {
        const next = this.waiting.shift()
        if (next) next()
        else this.running--
      }
    }
    if (ok && digest !== null) this.remember(username, entry, digest)
    return ok ? 'ok' : 'bad'
  }

  /** Forgets everything (a user removed or changed is also caught by entryText). */
  clear (): void {
    this.cache.clear()
  }

  get pending (): number {
    return this.waiting.length
  }

  private digest (username: string, password: Buffer): Buffer {
    return createHmac('sha256', this.key).update(username).update('\0').update(password).digest()
  }

  private cached (username: string, entry: PasswordEntry, digest: Buffer): boolean {
    const hit = this.cache.get(username)
    if (!hit) return false
    if (hit.expires <= Date.now() || hit.entryText !== entry.text) {
      this.cache.delete(username)
      return false
    }
    return timingSafeEqual(hit.digest, digest)
  }

  private remember (username: string, entry: PasswordEntry, digest: Buffer): void {
    this.cache.delete(username) // re-insert: Map order is then oldest-first for eviction
    if (this.cache.size >= this.opts.maxCacheEntries) {
      const oldest = this.cache.keys().next()
      if (!oldest.done) this.cache.delete(oldest.value)
    }
    this.cache.set(username, { entryText: entry.text, digest, expires: Date.now() + this.opts.cacheTtlMs })
  }
}
