// Option specs: one declarative row per setting. The same row drives the flag, the
// SWALLOW_* environment variable, the config-file key, validation and `--help`.
import { ConfigError } from './errors.js'

export type OptionType = 'string' | 'int' | 'port' | 'bool' | 'enum' | 'duration' | 'size' | 'list'

export interface OptionSpec {
  /** Config-file key; a dotted key ("sys.interval") lives in that plugin's section. */
  key: string
  type: OptionType
  default: unknown
  help: string
  /** Allowed values for `enum`. */
  choices?: readonly string[]
  /** Smallest allowed value for `int`, `duration` (ms) and `size` (bytes). */
  min?: number
  /** Whether `off` is allowed (ports) and maps to null. */
  allowOff?: boolean
  /** Text shown in --help instead of the default value. */
  defaultText?: string
  /** Flag name when it is not derived from the key (e.g. "--password-file" for "auth.passwordFile"). */
  flag?: string
  /**
   * For `list`: parses and validates one item (a string from a flag or env var, or any JSON
   * value from the config file, e.g. an object); throws ConfigError naming `where`.
   */
  parseItem?: (raw: unknown, where: string) => unknown
  /**
   * For `list`: the config file may give an object instead of an array, keyed by name
   * (e.g. "sharedGroups": { "orders": { "strategy": "hash_topic" } }); each entry is parsed
   * by this, which throws ConfigError naming `where`.
   */
  parseEntry?: (name: string, value: unknown, where: string) => unknown
}


export function flagName (spec: OptionSpec): string {
  if (spec.flag) return spec.flag
  return '--' + spec.key.replace(/\./g, '-').replace(/[A-Z]/g, c => '-' + c.toLowerCase())
}

export function envName (spec: OptionSpec): string {
  return 'SWALLOW_' + flagName(spec).slice(2).replace(/-/g, '_').toUpperCase()
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const SIZE_UNITS: Record<string, number> = {
  b: 1, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3
}

function describeAllowed (spec: OptionSpec): string {
  switch (spec.type) {
    case 'port': return 'a port number 0-65535 (0 picks a free port)' + (spec.allowOff ? ' or off' : '')
    case 'int': return `an integer >= ${spec.min ?? 0}`
    case 'bool': return 'true or false'
    case 'enum': return (spec.choices ?? []).join(', ')
    case 'duration': return 'a duration like 500ms, 10s, 5m, 24h (a bare number is seconds)' + (spec.allowOff ? ' or off' : '')
    case 'size': return 'a size like 512KiB, 1MiB, 1MB (a bare number is bytes)'
    case 'list': return 'a comma-separated list'
    case 'string': return 'a non-empty string'
  }
}

/**
 * Parses one raw value (a string from argv/env, or any JSON value from the config file)
 * into the option's typed value. `where` names the source for the error message.
 */
export function parseOptionValue (spec: OptionSpec, raw: unknown, where: string): unknown {
  const fail = (): never => {
    throw new ConfigError(`${where}: invalid value ${JSON.stringify(raw)}; expected ${describeAllowed(spec)}`)
  }
  const text = typeof raw === 'string' ? raw.trim() : raw
  if (spec.allowOff && (text === 'off' || text === false)) return null
  switch (spec.type) {
    case 'string':
      if (typeof text !== 'string' || text === '') fail()
      return text
    case 'bool':
      if (typeof text === 'boolean') return text
      if (text === 'true' || text === '1' || text === 'yes') return true
      if (text === 'false' || text === '0' || text === 'no') return false
      return fail()
    case 'enum':
      if (typeof text !== 'string' || !(spec.choices ?? []).includes(text)) fail()
      return text
    case 'port': {
      const n = typeof text === 'number' ? text : (typeof text === 'string' && /^\d+$/.test(text) ? Number(text) : NaN)
      if (!Number.isInteger(n) || n < 0 || n > 65535) fail()
      return n
    }
    case 'int': {
      const n = typeof text === 'number' ? text : (typeof text === 'string' && /^-?\d+$/.test(text) ? Number(text) : NaN)
      if (!Number.isSafeInteger(n) || n < (spec.min ?? 0)) fail()
      return n
    }
    case 'duration': {
      const ms = parseUnit(text, DURATION_UNITS, 's')
      if (ms === undefined || ms < (spec.min ?? 0)) fail()
      return ms
    }
    case 'size': {
      const bytes = parseUnit(text, SIZE_UNITS, 'b')
      if (bytes === undefined || bytes < (spec.min ?? 0)) fail()
      return bytes
    }
    case 'list': {
      if (spec.parseEntry !== undefined && text !== null && typeof text === 'object' && !Array.isArray(text)) {
        return Object.entries(text).map(([name, value]) => spec.parseEntry?.(name, value, where))
      }
      const items: unknown[] = Array.isArray(text) ? text : typeof text === 'string' ? text.split(',').map(s => s.trim()).filter(Boolean) : fail()
      if (spec.parseItem) return items.map((item, i) => spec.parseItem?.(item, Array.isArray(text) ? `${where}[${i}]` : where))
      if (!items.every(v => typeof v === 'string')) fail()
      return items
    }
  }
}

function parseUnit (raw: unknown, units: Record<string, number>, bareUnit: string): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) && raw >= 0 ? Math.round(raw * units[bareUnit]) : undefined
  if (typeof raw !== 'string') return undefined
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(raw)
  if (!m) return undefined
  const unit = (m[2] || bareUnit).toLowerCase()
  if (!(unit in units)) return undefined
  return Math.round(Number(m[1]) * units[unit])
}

export function formatDefault (spec: OptionSpec): string {
  if (spec.defaultText) return spec.defaultText
  const v = spec.default
  if (v === null) return 'off'
  if (Array.isArray(v)) return v.length ? v.join(',') : '(none)'
  if (spec.type === 'duration' && typeof v === 'number') return formatDuration(v)
  if (spec.type === 'size' && typeof v === 'number') return formatSize(v)
  return String(v)
}

export function formatDuration (ms: number): string {
  if (ms % 86_400_000 === 0 && ms > 0) return `${ms / 86_400_000}d`
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}

export function formatSize (bytes: number): string {
  if (bytes % 1024 ** 2 === 0 && bytes > 0) return `${bytes / 1024 ** 2}MiB`
  if (bytes % 1024 === 0 && bytes > 0) return `${bytes / 1024}KiB`
  return `${bytes}B`
}
