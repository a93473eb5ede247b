// Reconnect delays: exponential backoff with full jitter. The first window is as wide as
// the start ramp (devices / ramp rate), so after a broker restart the fleet comes back at
// about the rate it started with instead of all at once.

export interface Backoff {
  /** Delay before reconnect attempt number `attempt` (0 = first retry after a drop). */
  delay: (attempt: number) => number
}

export const MAX_BACKOFF_MS = 30_000

export function createBackoff (devices: number, rampPerSec: number, random: () => number = Math.random): Backoff {
  const base = Math.max(1000, devices / rampPerSec * 1000)
  const cap = Math.max(MAX_BACKOFF_MS, base)
  return {
    delay (attempt) {
      const window = Math.min(cap, base * 2 ** Math.min(attempt, 16))
      return Math.round(100 + random() * window)
    }
  }
}
