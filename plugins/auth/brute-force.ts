// Brute-force guard: after `maxFailures` failed CONNECTs for one username from one address
// within `windowMs`, that username is refused from that address (CONNACK 5, no password
// check) for `lockoutMs`. Keyed by address and username (guardKey), so one misconfigured
// device does not lock out the other users behind the same address (a NAT, or every client
// of 127.0.0.1 on a developer machine). State per key is small and pruned, and the table is
// capped, so a flood of addresses or usernames cannot grow it without bound.

/** The guard's key: a username's attempts from one address (anonymous attempts share one). */
export function guardKey (address: string, username: string | undefined): string {
  return `${address}\u0000${username ?? ''}`
}

export interface GuardOptions {
  /** 0 disables the guard. */
  maxFailures: number
  windowMs: number
  lockoutMs: number
  maxAddresses?: number
}

interface AddressState { failures: number, windowStart: number, lockedUntil: number }

export class BruteForceGuard {
  private readonly table = new Map<string, AddressState>()
  private readonly maxAddresses: number

  constructor (private readonly opts: GuardOptions, private readonly now: () => number = Date.now) {
    this.maxAddresses = opts.maxAddresses ?? 100_000
  }

  get enabled (): boolean {
    return this.opts.maxFailures > 0
  }

  /** Milliseconds the address stays locked out, or 0. */
  lockedFor (address: string): number {
    const state = this.table.get(address)
    if (!state) return 0
    const left = state.lockedUntil - this.now()
    return left > 0 ? left : 0
  }

  /** Records a failed CONNECT; returns true when this failure starts a lockout. */
  failed (address: string): boolean {
    if (!this.enabled) return false
    const now = this.now()
    let state = this.table.get(address)
    if (!state || now - state.windowStart > this.opts.windowMs) {
      if (!state && this.table.size >= this.maxAddresses) this.prune(now, true)
      state = { failures: 0, windowStart: now, lockedUntil: state?.lockedUntil ?? 0 }
      this.table.set(address, state)
    }
    state.failures++
    if (state.failures >= this.opts.maxFailures && state.lockedUntil <= now) {
      state.lockedUntil = now + this.opts.lockoutMs
      state.failures = 0
      state.windowStart = now
      return true
    }
    return false
  }

  /** A successful CONNECT clears the address's failures. */
  succeeded (address: string): void {
    const state = this.table.get(address)
    if (state && state.lockedUntil <= this.now()) this.table.delete(address)
  }

  /** Drops expired entries; with `force`, drops the oldest half when nothing expired. */
  prune (now = this.now(), force = false): void {
    for (const [address, state] of this.table) {
      if (state.lockedUntil <= now && now - state.windowStart > this.opts.windowMs) this.table.delete(address)
    }
    if (force && this.table.size >= this.maxAddresses) {
      let drop = Math.ceil(this.table.size / 2)
      for (const address of this.table.keys()) {
        if (drop-- <= 0) break
        this.table.delete(address)
      }
    }
  }

  get size (): number {
    return this.table.size
  }
}

/**
 * Guesses at one username spread over many addresses (issue #20: 100 guesses from 100
 * addresses were never throttled): after `maxFailures` failures for the username from any
 * addresses within the window, it is locked out everywhere except from the addresses it
 * logged in from successfully before (its own devices keep working; an attacker cannot lock
 * a fleet out by guessing). A success does not clear the count: the attacker's guesses go on
 * counting while the owner's devices log in.
 */
export class UsernameGuard {
  private readonly guard: BruteForceGuard
  /** Addresses each username logged in from (a few per username, a bounded number of usernames). */
  private readonly known = new Map<string, Set<string>>()

  constructor (opts: GuardOptions, now?: () => number, private readonly maxKnown = 100_000) {
    this.guard = new BruteForceGuard(opts, now)
  }

  get enabled (): boolean {
    return this.guard.enabled
  }

  /** Milliseconds the username stays locked out from this address, or 0. */
  lockedFor (username: string | undefined, address: string): number {
    if (username === undefined || this.known.get(username)?.has(address) === true) return 0
    return this.guard.lockedFor(username)
  }

  /** Records a failed CONNECT; true when it starts the username's lockout. */
  failed (username: string | undefined): boolean {
    return username !== undefined && this.guard.failed(username)
  }

  succeeded (username: string | undefined, address: string): void {
    if (username === undefined) return
    let addresses = this.known.get(username)
    if (addresses === undefined) {
      if (this.known.size >= this.maxKnown) this.known.clear()
      this.known.set(username, addresses = new Set())
    }
    if (addresses.size < 16) addresses.add(address)
  }
}
