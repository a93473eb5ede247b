// Bridge rules: which topics go to which stream, with which acknowledgement guarantee.
// From the command line: --bridge-rule 'FILTER=STREAM[:durable|written|async][:embedded|redis]'
// (repeatable); in the config file: { "filter", "stream", "ack", "store" } objects or the
// same strings. parseRule is the bridge.rules option's parseItem, so loadConfig validates.
import { ConfigError } from '../../src/errors.js'
import { isValidName } from './log/layout.js'
import type { StoreKind } from './store.js'

/** durable: PUBACK after fsync; written: PUBACK once the OS has the record (fsync within a
 *  second); async: no wait, bounded buffer. See plugins/bridge/README.md, Guarantees. */
export type AckMode = 'durable' | 'written' | 'async'

export interface Rule {
  filter: string
  stream: string
  ack: AckMode
  /** null: the default store (redis with --storage redis, embedded otherwise). */
  store: StoreKind | null
}

const FLAG_FORM = "expected FILTER=STREAM[:durable|written|async][:embedded|redis], e.g. 'sensors/#=telemetry:durable'"

export function parseRuleFlag (text: string, where = '--bridge-rule'): Rule {
  const eq = text.lastIndexOf('=')
  if (eq <= 0) throw new ConfigError(`${where}: invalid rule ${JSON.stringify(text)}; ${FLAG_FORM}`)
  const [stream, ack = 'durable', store, ...rest] = text.slice(eq + 1).split(':')
  if (rest.length > 0) throw new ConfigError(`${where}: invalid rule ${JSON.stringify(text)}; ${FLAG_FORM}`)
  return checkRule({ filter: text.slice(0, eq), stream, ack, store }, where)
}

/** A rule from the config file (an object) or a flag-form string. */
export function parseRule (raw: unknown, where: string): Rule {
  if (typeof raw === 'string') return parseRuleFlag(raw, where)
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`${where}: a rule is an object {"filter": "sensors/#", "stream": "telemetry", "ack": "durable"}`)
  }
  const r = raw as Record<string, unknown>
  for (const k of Object.keys(r)) {
    if (!['filter', 'stream', 'ack', 'store'].includes(k)) throw new ConfigError(`${where}: unknown rule key "${k}"; rules have filter, stream, ack and store`)
  }
  return checkRule({ filter: r.filter, stream: r.stream, ack: r.ack ?? 'durable', store: r.store }, where)
}

function checkRule (r: { filter: unknown, stream: unknown, ack: unknown, store: unknown }, where: string): Rule {
  if (typeof r.filter !== 'string' || !isValidFilter(r.filter)) {
    throw new ConfigError(`${where}: invalid topic filter ${JSON.stringify(r.filter)}; # may only be the last level and + must be a whole level`)
  }
  if (typeof r.stream !== 'string' || !isValidName(r.stream)) {
    throw new ConfigError(`${where}: invalid stream name ${JSON.stringify(r.stream)}; stream names are 1-128 characters of A-Z a-z 0-9 . _ -`)
  }
  if (r.ack !== 'durable' && r.ack !== 'written' && r.ack !== 'async') {
    throw new ConfigError(`${where}: invalid ack ${JSON.stringify(r.ack)}; expected durable, written or async`)
  }
  if (r.store !== undefined && r.store !== null && r.store !== '' && r.store !== 'embedded' && r.store !== 'redis') {
    throw new ConfigError(`${where}: invalid store ${JSON.stringify(r.store)}; expected embedded or redis`)
  }
  return { filter: r.filter, stream: r.stream, ack: r.ack, store: (r.store || null) as StoreKind | null }
}

export function isValidFilter (filter: string): boolean {
  if (filter.length === 0) return false
  const levels = filter.split('/')
  return levels.every((level, i) => (level === '#' ? i === levels.length - 1 : level === '+' || (!level.includes('#') && !level.includes('+'))))
}

/** Does `filter` match `topic`? Allocation-free; wildcards at the start never match $ topics. */
export function matchFilter (filter: string, topic: string): boolean {
  const f0 = filter.charCodeAt(0)
  if (topic.charCodeAt(0) === 36 && (f0 === 35 || f0 === 43)) return false // '$' vs '#' / '+'
  let fi = 0
  let ti = 0
  for (;;) {
    const fEnd = indexOrEnd(filter, fi)
    const tEnd = indexOrEnd(topic, ti)
    const fLen = fEnd - fi
    if (fLen === 1 && filter.charCodeAt(fi) === 35) return true // '#': this level and below
    if (!(fLen === 1 && filter.charCodeAt(fi) === 43)) {
      if (fLen !== tEnd - ti) return false
      for (let k = 0; k < fLen; k++) if (filter.charCodeAt(fi + k) !== topic.charCodeAt(ti + k)) return false
    }
    const fDone = fEnd >= filter.length
    const tDone = tEnd >= topic.length
    if (fDone || tDone) {
      if (fDone && tDone) return true
      // "a/#" matches "a": the filter's next level is the final #.
      return tDone && filter.length - fEnd === 2 && filter.charCodeAt(fEnd + 1) === 35
    }
    fi = fEnd + 1
    ti = tEnd + 1
  }
}

function indexOrEnd (s: string, from: number): number {
  const i = s.indexOf('/', from)
  return i === -1 ? s.length : i
}

/** The rules grouped by stream: a message lands once per stream, with the strongest ack of
 *  the rules it matches there (durable over written over async). */
export interface StreamRoute<S> {
  stream: string
  target: S
  durable: string[]
  written: string[]
  async: string[]
}

export function routeByStream<S> (rules: readonly Rule[], target: (stream: string) => S): Array<StreamRoute<S>> {
  const byStream = new Map<string, StreamRoute<S>>()
  for (const rule of rules) {
    let route = byStream.get(rule.stream)
    if (!route) byStream.set(rule.stream, route = { stream: rule.stream, target: target(rule.stream), durable: [], written: [], async: [] })
    route[rule.ack].push(rule.filter)
  }
  return [...byStream.values()]
}

export const MATCH_NONE = 0
export const MATCH_ASYNC = 1
export const MATCH_WRITTEN = 2
export const MATCH_DURABLE = 3
export type RouteMatch = typeof MATCH_NONE | typeof MATCH_ASYNC | typeof MATCH_WRITTEN | typeof MATCH_DURABLE

/** The strongest ack among the route's rules that match `topic` (MATCH_NONE: none match). */
export function matchRoute (route: StreamRoute<unknown>, topic: string): RouteMatch {
  for (let i = 0; i < route.durable.length; i++) if (matchFilter(route.durable[i], topic)) return MATCH_DURABLE
  for (let i = 0; i < route.written.length; i++) if (matchFilter(route.written[i], topic)) return MATCH_WRITTEN
  for (let i = 0; i < route.async.length; i++) if (matchFilter(route.async[i], topic)) return MATCH_ASYNC
  return MATCH_NONE
}
