// pino root logger. JSON lines by default; one short line per event when stdout is a
// terminal or --log-format pretty (src/pretty-log.ts).
import { pino, type Logger } from 'pino'
import type { Config } from './config.js'
import { prettyDestination } from './pretty-log.js'

export type { Logger }

export function createLogger (config: Pick<Config, 'logLevel' | 'logFormat'>): Logger {
  const terminal = process.stdout.isTTY === true
  const pretty = config.logFormat === 'pretty' || (config.logFormat === 'auto' && terminal)
  const options = { level: config.logLevel, base: { pid: process.pid } }
  if (!pretty) return pino(options)
  // Synchronous so that the last lines before an exit are never lost.
  const stdout = pino.destination({ fd: 1, sync: true })
  return pino(options, prettyDestination({
    colour: terminal && process.env.NO_COLOR === undefined,
    startupDetails: config.logLevel === 'debug' || config.logLevel === 'trace',
    write: text => stdout.write(text)
  }))
}
