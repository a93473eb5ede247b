// Redis connections for --storage redis: a probe at start (fail fast with one clear line),
// connections that wait through an outage instead of failing commands (so nothing is
// acknowledged that was not stored), and one health state for /healthz and /metrics.
import { Redis, type RedisOptions } from 'ioredis'
import { StartupError } from './errors.js'
import type { Logger } from './logger.js'

export type RedisHealth = 'ok' | 'degraded'

/** Redacts the password of a redis:// URL for messages and logs. */
export function describeRedisUrl (url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return url
  }
}

/** Connects once, with no retries, and pings: Redis unreachable at start is a StartupError within ~5 s. */
export async function probeRedis (url: string): Promise<void> {
  if (!/^rediss?:\/\//.test(url)) {
    throw new StartupError(`--redis-url: ${JSON.stringify(url)} is not a redis:// or rediss:// URL`)
  }
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, connectTimeout: 5000, maxRetriesPerRequest: 0, enableOfflineQueue: false })
  let cause: Error | null = null
  probe.on('error', (err: Error) => { cause ??= err }) // the socket error says more than connect()'s
  try {
    await probe.connect()
    await probe.ping()
  } catch (err) {
    const why = (cause as Error | null)?.message ?? (err as Error).message
    throw new StartupError(`cannot reach Redis at ${describeRedisUrl(url)}: ${why}; start Redis or fix --redis-url`)
  } finally {
    probe.disconnect()
  }
}

/**
 * Tracks several connections: degraded while any of them is down. Calls onChange once per
 * state change (not once per failed command), so the log says "lost" and "back" once each.
 */
export class RedisHealthMonitor {
  private readonly down = new Set<string>()
  private state: RedisHealth = 'ok'

  constructor (private readonly log: Logger, private readonly onChange: (state: RedisHealth) => void) {}

  get current (): RedisHealth {
    return this.state
  }

  /** Opens a connection that queues commands while Redis is away and reconnects with capped backoff. */
  connect (name: string, url: string, extra: RedisOptions = {}): Redis {
    const conn = new Redis(url, {
      maxRetriesPerRequest: null,
      retryStrategy: attempt => Math.min(100 * 2 ** Math.min(attempt, 6), 5000),
      connectionName: `swallow-${name}`,
      ...extra
    })
    conn.on('error', () => {}) // state changes are reported below, once
    conn.on('ready', () => this.mark(name, true))
    // ioredis schedules a reconnect only for a connection it lost: a disconnect() during
    // shutdown is not an outage (it ends with 'end', never 'reconnecting').
    conn.on('reconnecting', () => this.mark(name, false))
    return conn
  }

  private mark (name: string, up: boolean): void {
    if (up) this.down.delete(name)
    else this.down.add(name)
    const next: RedisHealth = this.down.size === 0 ? 'ok' : 'degraded'
    if (next === this.state) return
    this.state = next
    if (next === 'degraded') this.log.error({ connections: [...this.down] }, 'Redis connection lost: storage degraded; QoS 1/2 acknowledgements wait until Redis is back')
    else this.log.info('Redis connection back: storage ok')
    this.onChange(next)
  }
}
