// `swallow simulate` flags: one table drives parsing, validation and --help.
// Every mistake becomes a UsageError whose message names the flag and what it accepts.
import { readFileSync } from 'node:fs'
import { PROFILE_NAMES, type ProfileName } from './profiles.js'

export class UsageError extends Error {
  override name = 'UsageError'
  readonly exitCode = 2
}

export interface SimOptions {
  url: string
  devices: number
  intervalMs: number
  qos: 0 | 1 | 2
  profile: ProfileName | 'mixed'
  username?: string
  password?: string
  /** null: run until Ctrl-C. */
  durationMs: number | null
  prefix: string
  idPrefix: string
  /** Devices started per second. */
  rampPerSec: number
  verify: boolean
  json: boolean
  ca?: Buffer
  insecure: boolean
  /** How often a plain (non-terminal) progress line is printed. */
  reportMs: number
  /** MQTT version: 4 (3.1.1) or 5. */
  protocol: 4 | 5
}

/** A persistent MQTT 5 session lasts an hour after its device goes away (3.1.1 ones: as the broker keeps them). */
const V5_SESSION_EXPIRY_S = 3600

/** The MQTT version of every connection of the run, and for MQTT 5 the session expiry a persistent one needs. */
export function protocolOptions (opts: SimOptions, persistent: boolean): { protocolVersion: 4 | 5, properties?: { sessionExpiryInterval: number } } {
  if (opts.protocol === 4) return { protocolVersion: 4 }
  return persistent ? { protocolVersion: 5, properties: { sessionExpiryInterval: V5_SESSION_EXPIRY_S } } : { protocolVersion: 5 }
}

export const MAX_DEVICES = 20_000

interface Flag { name: string, value: string, help: string, def: string }
export const FLAGS: readonly Flag[] = [
  { name: '--url', value: 'URL', help: 'broker: mqtt://, mqtts://, ws:// or wss:// (ws path usually /mqtt)', def: 'mqtt://localhost:1883' },
  { name: '--devices', value: 'N', help: `number of virtual devices, 1-${MAX_DEVICES}`, def: '10' },
  { name: '--interval', value: 'TIME', help: 'telemetry period per device (500ms, 1s, 1m)', def: '1s' },
  { name: '--protocol', value: '4|5', help: 'MQTT 3.1.1 (4) or MQTT 5 (5; persistent sessions then last 1 h after a device leaves)', def: '4' },
  { name: '--qos', value: '0|1|2', help: 'QoS of telemetry and of the --verify subscription (status, commands and acks always use QoS 1)', def: '1' },
  { name: '--profile', value: 'NAME', help: 'climate, gps, meter, or mixed (cycles through the three)', def: 'mixed' },
  { name: '--username', value: 'U', help: 'username for every device', def: '' },
  { name: '--password', value: 'P', help: 'password for every device', def: '' },
  { name: '--duration', value: 'TIME', help: 'stop after this long', def: 'run until Ctrl-C' },
  { name: '--prefix', value: 'TOPIC', help: 'topic prefix: <prefix>/<id>/telemetry', def: 'devices' },
  { name: '--id-prefix', value: 'NAME', help: 'device ids and client ids are <id-prefix>-0001 ...', def: 'sim' },
  { name: '--ramp', value: 'N/s', help: 'devices started per second (also N/m)', def: '200/s' },
  { name: '--verify', value: '', help: 'subscribe to the fleet\'s telemetry and count lost messages; exit 3 on loss', def: 'off' },
  { name: '--json', value: '', help: 'print the final summary as one JSON line', def: 'off' },
  { name: '--ca', value: 'FILE', help: 'CA certificate (PEM) for mqtts:// or wss://', def: '(system CAs)' },
  { name: '--insecure', value: '', help: 'do not verify the broker\'s TLS certificate', def: 'off' },
  { name: '--report', value: 'TIME', help: 'period of progress lines when not on a terminal', def: '5s' },
  { name: '--help', value: '', help: 'show this help', def: '' }
]

const BOOLEAN_FLAGS = new Set(FLAGS.filter(f => f.value === '').map(f => f.name))
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** "500ms", "10s", "5m", "1h"; a bare number is seconds. Returns undefined when malformed. */
export function parseDuration (raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) && raw >= 0 ? Math.round(raw * 1000) : undefined
  if (typeof raw !== 'string') return undefined
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(raw.trim())
  if (!m) return undefined
  const unit = (m[2] || 's').toLowerCase()
  const scale = DURATION_UNITS[unit]
  return scale === undefined ? undefined : Math.round(Number(m[1]) * scale)
}

export function formatDuration (ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}

/** Splits argv into flag -> value, accepting `--flag value` and `--flag=value`. */
function readArgv (args: string[]): Map<string, string> {
  const known = new Set(FLAGS.map(f => f.name))
  const out = new Map<string, string>()
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (arg === '-h') { out.set('--help', 'true'); continue }
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"; flags start with -- (see swallow simulate --help)`)
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg : arg.slice(0, eq)
    if (!known.has(name)) throw new UsageError(`unknown flag ${name} (see swallow simulate --help)`)
    if (BOOLEAN_FLAGS.has(name)) {
      const value = eq === -1 ? 'true' : arg.slice(eq + 1)
      if (value !== 'true' && value !== 'false') throw new UsageError(`${name} takes no value (or =true / =false), got "${value}"`)
      out.set(name, value)
      continue
    }
    let value: string | undefined = eq === -1 ? args[i + 1] : arg.slice(eq + 1)
    if (eq === -1) i++
    if (value === undefined || (eq === -1 && value.startsWith('--'))) throw new UsageError(`${name} needs a value: ${name} ${FLAGS.find(f => f.name === name)?.value ?? ''}`)
    out.set(name, value)
  }
  return out
}

export function wantsHelp (args: string[]): boolean {
  return args.includes('--help') || args.includes('-h')
}

export function parseOptions (args: string[]): SimOptions {
  const raw = readArgv(args)
  const get = (name: string): string | undefined => raw.get(name)

  const duration = (name: string, fallback: string, min: number): number => {
    const text = get(name) ?? fallback
    const ms = parseDuration(text)
    if (ms === undefined) throw new UsageError(`${name}: invalid duration "${text}"; expected a duration like 500ms, 10s, 5m (a bare number is seconds)`)
    if (ms < min) throw new UsageError(`${name}: ${text} is too short; the minimum is ${formatDuration(min)}`)
    return ms
  }

  const devicesText = get('--devices') ?? '10'
  const devices = /^\d+$/.test(devicesText) ? Number(devicesText) : NaN
  if (!Number.isSafeInteger(devices) || devices < 1 || devices > MAX_DEVICES) {
    throw new UsageError(`--devices: invalid value "${devicesText}"; expected an integer from 1 to ${MAX_DEVICES}`)
  }

  const protocolText = get('--protocol') ?? '4'
  if (protocolText !== '4' && protocolText !== '5') throw new UsageError(`--protocol: invalid value "${protocolText}"; expected 4 (MQTT 3.1.1) or 5 (MQTT 5)`)

  const qosText = get('--qos') ?? '1'
  if (!['0', '1', '2'].includes(qosText)) throw new UsageError(`--qos: invalid value "${qosText}"; expected 0, 1 or 2`)

  const profile = get('--profile') ?? 'mixed'
  if (profile !== 'mixed' && !(PROFILE_NAMES as readonly string[]).includes(profile)) {
    throw new UsageError(`--profile: unknown profile "${profile}"; expected ${[...PROFILE_NAMES, 'mixed'].join(', ')}`)
  }

  const prefix = get('--prefix') ?? 'devices'
  if (prefix === '' || /[+#\0]/.test(prefix) || prefix.startsWith('/') || prefix.endsWith('/')) {
    throw new UsageError(`--prefix: invalid topic prefix "${prefix}"; use something like devices or site1/devices (no +, #, leading or trailing /)`)
  }
  const idPrefix = get('--id-prefix') ?? 'sim'
  if (!/^[A-Za-z0-9_.-]{1,40}$/.test(idPrefix)) {
    throw new UsageError(`--id-prefix: invalid value "${idPrefix}"; use 1-40 letters, digits, _ . or -`)
  }

  const username = get('--username')
  const password = get('--password')
  if (password !== undefined && username === undefined) throw new UsageError('--password needs --username too')

  let ca: Buffer | undefined
  const caFile = get('--ca')
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile)
    } catch (err) {
      throw new UsageError(`--ca: cannot read ${caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }

  const durationMs = get('--duration') === undefined ? null : duration('--duration', '', 100)
  return {
    url: parseUrl(get('--url') ?? 'mqtt://localhost:1883'),
    devices,
    intervalMs: duration('--interval', '1s', 10),
    qos: Number(qosText) as 0 | 1 | 2,
    profile: profile as SimOptions['profile'],
    username,
    password,
    durationMs,
    prefix,
    idPrefix,
    rampPerSec: parseRamp(get('--ramp') ?? '200/s'),
    verify: get('--verify') === 'true',
    json: get('--json') === 'true',
    ca,
    insecure: get('--insecure') === 'true',
    reportMs: duration('--report', '5s', 100),
    protocol: protocolText === '5' ? 5 : 4
  }
}

const PROTOCOLS = new Set(['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:', 'ws:', 'wss:'])

function parseUrl (text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(`--url: "${text}" is not a URL; expected e.g. mqtt://localhost:1883 or ws://localhost:8083/mqtt`)
  }
  if (!PROTOCOLS.has(url.protocol)) {
    throw new UsageError(`--url: unsupported scheme "${url.protocol}" in ${text}; use mqtt://, mqtts://, ws:// or wss://`)
  }
  if (url.hostname === '') throw new UsageError(`--url: no host in ${text}`)
  return text
}

/** "200/s", "600/m" or a bare number (per second). */
function parseRamp (text: string): number {
  const m = /^(\d+(?:\.\d+)?)(?:\/(s|m))?$/.exec(text.trim())
  const perSec = m ? Number(m[1]) / (m[2] === 'm' ? 60 : 1) : NaN
  if (!(perSec > 0) || perSec > 100_000) {
    throw new UsageError(`--ramp: invalid value "${text}"; expected devices per second like 200/s or per minute like 600/m`)
  }
  return perSec
}

export function helpText (): string {
  const rows = FLAGS.map(f => {
    const flag = `${f.name} ${f.value}`.trimEnd()
    const def = f.def ? `\n  ${''.padEnd(24)} default: ${f.def}` : ''
    return `  ${flag.padEnd(24)} ${f.help}${def}`
  })
  return [
    'Usage: swallow simulate [options]   (npm run simulate -- [options])',
    '',
    'Runs a fleet of virtual devices against any MQTT broker. Each device has its own',
    'client id and persistent session, a retained birth message (<prefix>/<id>/status =',
    'online) and will (offline), publishes JSON telemetry to <prefix>/<id>/telemetry and',
    'obeys commands on <prefix>/<id>/cmd ({"interval":"5s"}, {"reboot":true}), answering',
    'on <prefix>/<id>/cmd/ack.',
    '',
    'Options:',
    ...rows,
    '',
    'Exit codes: 0 done, 1 broker unreachable or refused the devices, 2 bad flags,',
    '3 --verify found lost messages.',
    '',
    'Examples:',
    '  swallow simulate --devices 1000 --interval 1s --qos 1 --profile climate --duration 60s',
    '  swallow simulate --url ws://localhost:8083/mqtt --devices 50 --verify --duration 30s',
    '  swallow simulate --url mqtts://broker:8883 --ca ca.pem --username fleet --password secret',
    ''
  ].join('\n')
}
