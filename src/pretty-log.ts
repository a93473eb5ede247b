// --log-format pretty: one short line per event for a person at a terminal
// (`15:20:19 connect my-device 127.0.0.1 tcp v5`). pino still builds the JSON line; this
// destination reads it back and writes the line a person wants. The fields are for JSON mode:
// an info line shows its words only; a warning or error, which must say what it is about,
// keeps its fields on the same line (key=value), and an error with a stack (a bug) its stack.
import { eventText, type LogEntry } from './pretty-events.js'

export interface PrettyOptions {
  /** ANSI colours: only when writing to a terminal. */
  colour: boolean
  /**
   * Show the info lines logged while starting (plugins saying what they loaded). The startup
   * line sums them up, so a terminal shows only it, unless --log-level is debug or trace.
   */
  startupDetails: boolean
  write: (text: string) => void
}

const WARN = 40
const INFO = 30
const LABELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
const COLOURS: Record<number, string> = { 10: '2', 20: '2', 40: '33', 50: '31', 60: '31' }
// Fields every line has, or that the wording already carries.
const IMPLICIT = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'module', 'plugin', 'err'])

export function prettyDestination (opts: PrettyOptions): { write: (line: string) => void } {
  let started = false
  return {
    write (line: string): void {
      const entry = JSON.parse(line) as LogEntry
      // The startup line is the one that names the listeners (src/cli.ts).
      if (entry.listeners !== undefined) started = true
      else if (!started && entry.level === INFO && !opts.startupDetails) return
      opts.write(prettyLine(entry, opts.colour))
    }
  }
}

export function prettyLine (entry: LogEntry, colour: boolean): string {
  const level = Number(entry.level)
  const paint = (code: string, s: string): string => colour ? `\x1b[${code}m${s}\x1b[0m` : s
  const label = LABELS[level] ? paint(COLOURS[level], LABELS[level]) + ' ' : ''
  const templated = eventText(entry)
  let words = templated ?? String(entry.msg ?? '')
  const err = entry.err as { message?: string, stack?: string } | undefined
  if (templated === null && level >= WARN) {
    if (err?.message) words += `: ${err.message}`
    const fields = Object.entries(entry).filter(([k, v]) => !IMPLICIT.has(k) && v !== undefined).map(([k, v]) => `${k}=${fieldText(v)}`)
    if (fields.length > 0) words += ' ' + paint('2', fields.join(' '))
  }
  let out = `${paint('2', clock(Number(entry.time)))} ${label}${words}\n`
  if (level > WARN && err?.stack) out += err.stack.split('\n').slice(1).map(l => `    ${l.trim()}\n`).join('')
  return out
}

function fieldText (value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value)
  return JSON.stringify(value)
}

/** HH:MM:SS in local time. */
function clock (ms: number): string {
  const d = new Date(ms)
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map(n => String(n).padStart(2, '0')).join(':')
}
