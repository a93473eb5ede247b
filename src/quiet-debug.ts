// Loggers of the `debug` package that are off at start become plain no-op functions.
//
// mqtt-packet calls debug() about ten times for every packet it parses. With its namespace
// off, each call still runs debug's `enabled` getter and allocates the rest-argument array:
// ~5-7% of the broker's CPU in the fan-in benchmark. Imported first by src/cli.ts, before
// anything loads mqtt-packet; with DEBUG set in the environment nothing changes.
import { createRequire } from 'node:module'

type DebugFactory = ((namespace: string) => DebugLogger) & Record<string, unknown>
interface DebugLogger { (...args: unknown[]): void, enabled: boolean, namespace?: string, extend?: (sub: string, delimiter?: string) => DebugLogger }

const require = createRequire(import.meta.url)

if (process.env.DEBUG === undefined || process.env.DEBUG === '') {
  const path = require.resolve('debug')
  const original = require('debug') as DebugFactory
  const quiet = Object.assign(function createQuietDebug (namespace: string): DebugLogger {
    const logger = original(namespace)
    if (logger.enabled) return logger
    const noop = (() => {}) as unknown as DebugLogger
    noop.enabled = false
    noop.namespace = namespace
    noop.extend = (sub, delimiter = ':') => quiet(`${namespace}${delimiter}${sub}`)
    return noop
  }, original)
  const cached = require.cache[path]
  if (cached !== undefined) cached.exports = quiet
}
