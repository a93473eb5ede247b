// The Plugin contract: a plugin receives its context, registers what it needs, and
// returns a handle to close. Nothing global, nothing patched from outside.
import type { Aedes, Client } from 'aedes'
import type { RoutedPacket } from './protocol/types.js'
import type { SharedGroupFigures } from './protocol/shared-members.js'
import type { Config } from './config.js'
import type { Hooks } from './hooks.js'
import type { HttpRoutes } from './listeners/http.js'
import type { Logger } from './logger.js'
import type { Registry } from './metrics.js'
import type { OptionSpec } from './options.js'
import type { ReloadPart } from './reload-summary.js'
import type { StorageHandles } from './storage.js'

export interface Plugin {
  name: string
  /** Settings this plugin reads, keyed "<section>.<name>" (flags, env vars and file keys follow). */
  options?: readonly OptionSpec[]
  /** Called once, after storage is open and before listeners accept connections. */
  setup: (ctx: PluginContext) => Promise<PluginHandle | void>
}

export interface PluginContext {
  /** The whole typed config; a plugin reads its own section with pluginSettings(). */
  config: Config
  /** For events and broker.publish. */
  broker: Aedes
  /** Add to authenticate / authorizePublish / ... without overwriting other plugins. */
  hooks: Hooks
  /** Register routes under /api/<plugin>/... */
  http: HttpRoutes
  metrics: Registry
  /** Child logger named after the plugin. */
  log: Logger
  storage: StorageHandles
  /**
   * Publishes an authorized message as a client's PUBLISH is, after its hooks: retained
   * store, offline queues, router, published hooks (src/protocol/route.ts); `done` once it
   * is stored wherever it must survive a crash. `client`: the publisher the hooks and No
   * Local see (null: the broker). Use it once the broker is whole (PluginHandle.start).
   */
  publish: (message: RoutedPacket, client: Client | null, done: (err?: Error | null) => void) => void
  /** Some connection on this node subscribes to a filter that may match $SYS topics: skip building $SYS messages when not. */
  sysListened: () => boolean
  /** What SIGHUP does (TLS certificates, every plugin's files), logged as one line; resolves the parts. */
  reload: (trigger: string) => Promise<ReloadPart[]>
  /** This node's shared-subscription groups and their figures (empty before PluginHandle.start). */
  sharedGroups: () => SharedGroupFigures[]
}

export interface PluginHandle {
  /**
   * Called once the broker is whole (every plugin's hooks installed, shared groups restored),
   * just before the listeners open: start work that publishes on its own (setup() runs
   * before the plugins after it have added their hooks).
   */
  start?: () => void
  /**
   * Shutdown, first step: clients no longer send packets; finish what was accepted (e.g.
   * appends waiting for fsync) so their acknowledgements still go out. Bounded by
   * --shutdown-timeout together with the storage's own in-flight work.
   */
  drain?: () => Promise<void>
  /**
   * SIGHUP: re-read the plugin's files; the broker logs one line with every part
   * (src/reload-summary.ts). A part that fails keeps its previous contents in force.
   */
  reload?: () => Promise<ReloadPart[]>
  /** Shutdown, last step: after the broker closed its clients. */
  close: () => Promise<void>
}

/**
 * A plugin's own settings, already validated against its option specs by loadConfig.
 * The cast is the boundary: T must mirror the plugin's `options`.
 */
export function pluginSettings<T> (config: Config, section: string): T {
  return (config.sections[section] ?? {}) as T
}
