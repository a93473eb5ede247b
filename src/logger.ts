// pino root logger. JSON lines by default; human-readable when stdout is a terminal.
import { pino, type Logger } from 'pino'
import pinoPretty from 'pino-pretty'
import type { Config } from './config.js'

export type { Logger }

export function createLogger (config: Pick<Config, 'logLevel' | 'logFormat'>): Logger {
  const pretty = config.logFormat === 'pretty' || (config.logFormat === 'auto' && process.stdout.isTTY === true)
  const options = { level: config.logLevel, base: { pid: process.pid } }
  if (!pretty) return pino(options)
  // Synchronous so that the last lines before an exit are never lost.
  return pino(options, pinoPretty({ colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', sync: true }))
}
