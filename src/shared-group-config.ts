// Per-group settings of shared subscriptions ($share/<group>/<filter>): the sharedGroups
// option. One group's strategy overrides --shared-strategy for every filter of that group.
// The flag and the environment variable give GROUP=STRATEGY items; the config file gives an
// object keyed by group name, { "orders": { "strategy": "hash_topic" } }, room for more
// per-group settings later.
import { ConfigError } from './errors.js'
import { SHARED_STRATEGIES, type SharedStrategy } from './protocol/shared-members.js'

export interface SharedGroupConfig { group: string, strategy: SharedStrategy }

const KEYS = ['strategy']

/** The sharedGroups option's parseItem: "GROUP=STRATEGY" (flag, env var, or a string in a file array). */
export function parseSharedGroupItem (raw: unknown, where: string): SharedGroupConfig {
  if (typeof raw !== 'string' || raw.lastIndexOf('=') === -1) {
    throw new ConfigError(`${where}: invalid value ${JSON.stringify(raw)}; expected GROUP=STRATEGY, e.g. orders=hash_topic`)
  }
  const eq = raw.lastIndexOf('=')
  return parseSharedGroupEntry(raw.slice(0, eq).trim(), { strategy: raw.slice(eq + 1).trim() }, where)
}

/** The sharedGroups option's parseEntry: one "GROUP": { "strategy": ... } of the config file's object. */
export function parseSharedGroupEntry (group: string, value: unknown, where: string): SharedGroupConfig {
  if (group === '' || /[+#/]/.test(group)) {
    throw new ConfigError(`${where}: invalid shared group name ${JSON.stringify(group)}; a group name is not empty and holds no +, # or /`)
  }
  const at = `${where}: shared group ${JSON.stringify(group)}`
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`${at}: expected an object like { "strategy": "hash_topic" }, got ${JSON.stringify(value)}`)
  }
  for (const key of Object.keys(value)) {
    if (!KEYS.includes(key)) throw new ConfigError(`${at}: unknown key "${key}"; expected ${KEYS.join(', ')}`)
  }
  const { strategy } = value as { strategy?: unknown }
  if (typeof strategy !== 'string' || !(SHARED_STRATEGIES as readonly string[]).includes(strategy)) {
    throw new ConfigError(`${at}: invalid strategy ${JSON.stringify(strategy)}; expected ${SHARED_STRATEGIES.join(', ')}`)
  }
  return { group, strategy: strategy as SharedStrategy }
}

/** The parsed items by group name; a group given twice is an error (which one was meant?). */
export function sharedGroupsByName (items: readonly SharedGroupConfig[]): Record<string, { strategy: SharedStrategy }> {
  const out: Record<string, { strategy: SharedStrategy }> = Object.create(null)
  for (const { group, strategy } of items) {
    if (group in out) throw new ConfigError(`--shared-group: shared group ${JSON.stringify(group)} is given twice; give each group once`)
    out[group] = { strategy }
  }
  return out
}
