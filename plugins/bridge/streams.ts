// The stream registry: opens one store per stream named by a rule (embedded or Redis), plus
// the embedded streams already on disk (readable through the API even without a rule now),
// and measures records/s for GET /api/streams.
import type { Redis } from 'ioredis'
import { ConfigError } from '../../src/errors.js'
import { listStreamDirs } from './log/layout.js'
import type { LogEvents, LogOptions } from './log/log.js'
import { RedisStreamStore } from './redis-streams.js'
import type { Rule } from './rules.js'
import { EmbeddedStore, type StoreKind, type StreamStore } from './store.js'

export interface RegistryOptions {
  dataDir: string
  defaultStore: StoreKind
  log: LogOptions
  redis: { url: string, maxLen: number, maxPending: number }
  events: LogEvents
}

const RATE_WINDOW_MS = 5000

export class StreamRegistry {
  private readonly stores = new Map<string, StreamStore>()
  private readonly rates = new Map<string, { last: number, at: number, perSecond: number }>()
  private redis: Redis | null = null
  private timer: NodeJS.Timeout | null = null

  private constructor (private readonly opts: RegistryOptions) {}

  static async open (rules: readonly Rule[], opts: RegistryOptions): Promise<StreamRegistry> {
    const registry = new StreamRegistry(opts)
    const kinds = new Map<string, StoreKind>()
    for (const rule of rules) {
      const kind = rule.store ?? opts.defaultStore
      const seen = kinds.get(rule.stream)
      if (seen && seen !== kind) {
        throw new ConfigError(`--bridge-rule: stream "${rule.stream}" is named with both the ${seen} and the ${kind} store; one stream lives in one store`)
      }
      kinds.set(rule.stream, kind)
    }
    for (const name of await listStreamDirs(opts.dataDir)) if (!kinds.has(name)) kinds.set(name, 'embedded')
    try {
      for (const [name, kind] of kinds) registry.stores.set(name, await registry.openStore(name, kind))
    } catch (err) {
      await registry.close()
      throw err
    }
    registry.timer = setInterval(() => registry.sample(), RATE_WINDOW_MS)
    registry.timer.unref()
    return registry
  }

  private async openStore (name: string, kind: StoreKind): Promise<StreamStore> {
    if (kind === 'embedded') return await EmbeddedStore.open(this.opts.dataDir, name, this.opts.log, this.opts.events)
    this.redis ??= RedisStreamStore.connect(this.opts.redis.url)
    this.redis.on('error', () => {}) // reconnects on its own; failures surface as waiting appends
    return new RedisStreamStore(name, this.redis, this.opts.redis)
  }

  get (name: string): StreamStore | undefined {
    return this.stores.get(name)
  }

  list (): StreamStore[] {
    return [...this.stores.values()]
  }

  recordsPerSecond (name: string): number {
    return this.rates.get(name)?.perSecond ?? 0
  }

  private sample (): void {
    const now = Date.now()
    for (const store of this.stores.values()) {
      const r = this.rates.get(store.name)
      if (r) {
        r.perSecond = Math.round((store.appended - r.last) * 1000 / Math.max(1, now - r.at))
        r.last = store.appended
        r.at = now
      } else {
        this.rates.set(store.name, { last: store.appended, at: now, perSecond: 0 })
      }
    }
  }

  async drain (): Promise<void> {
    await Promise.all([...this.stores.values()].map(store => store.drain()))
  }

  async close (): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    for (const store of this.stores.values()) {
      if (store.kind === 'embedded') await store.close()
    }
    // Redis stores share one connection: quit it once, after their pending appends; if
    // Redis is down those never finish, so give up after a while rather than hang the shutdown.
    const redis = this.redis
    if (redis) {
      const quit = redis.quit().then(() => true, () => false)
      const timer = new Promise<boolean>(resolve => setTimeout(resolve, 2000, false).unref())
      if (!await Promise.race([quit, timer])) redis.disconnect()
    }
  }
}
