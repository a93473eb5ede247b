// `swallow ctl`: operate a running broker (or cluster: any node answers for all) over its
// admin API, like `emqx ctl` and `vmq-admin`. Human tables by default, --json for scripts.
// Exit codes (EXIT below): 0 done, 1 broker unreachable or failed, 2 wrong usage or input,
// 3 not found / nothing matched, 4 token missing, wrong or read-only, 5 conflict.
import { ConfigError } from '../../src/errors.js'
import { parseOptionValue } from '../../src/options.js'
import { runCommand } from './ctl-commands.js'

export const EXIT = { ok: 0, failed: 1, usage: 2, notFound: 3, refused: 4, conflict: 5 } as const

export const USAGE = `Usage: swallow ctl [--url URL] [--token TOKEN] [--json] <command>

  clients list [--prefix P] [--username U] [--address A] [--protocol 3|4|5] [--node ID]
               [--state connected|offline|all] [--limit N]
  clients show ID
  clients kick ID [--session]                       disconnect (MQTT 5: DISCONNECT 0x98); --session: delete its session
  clients kick --prefix P | --username U | --address A [--session]
  sessions list [--prefix P]                        offline persistent sessions
  sessions delete ID
  subscriptions [--filter F] [--topic T] [--client ID]
  bans list
  bans add clientId|username|address VALUE [--reason TEXT] [--expires 1h]
  bans remove clientId|username|address VALUE
  publish TOPIC [PAYLOAD] [--qos 0|1|2] [--retain] [--base64] [--user-property k=v]...
          [--as-user U] [--as-client ID]            check the ACL of that user / client id (else: trusted backend)
  reload                                            what SIGHUP does; prints what was reloaded

 --url    the broker's HTTP listener (default: $SWALLOW_URL, else http://127.0.0.1:8080)
 --token  its --admin-token (default: $SWALLOW_TOKEN, else $SWALLOW_ADMIN_TOKEN)
 --json   print the API's JSON (lists: one object per line)
Exit codes: 0 done, 1 broker unreachable or failed, 2 wrong usage or input refused (400),
3 not found or nothing matched, 4 token missing, wrong or read-only (401/403), 5 conflict (409).
`

export class UsageError extends Error {}

export interface CtlArgs {
  words: string[]
  url: string
  token: string | null
  json: boolean
  /** Options after the command, by name without dashes; repeatable ones collect. */
  options: Map<string, string[]>
  flags: Set<string>
}

const VALUE_OPTIONS = new Set(['prefix', 'username', 'address', 'protocol', 'node', 'state', 'limit', 'filter', 'topic', 'client', 'reason', 'expires', 'qos', 'user-property', 'as-user', 'as-client'])
const FLAG_OPTIONS = new Set(['session', 'retain', 'base64'])

export async function run (args: string[]): Promise<number> {
  if (args.length === 0 || args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE)
    return args.length === 0 ? EXIT.usage : EXIT.ok
  }
  let parsed: CtlArgs
  try {
    parsed = parseArgs(args, process.env)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`swallow ctl: ${err.message}\n(see swallow ctl --help)\n`)
    return EXIT.usage
  }
  try {
    return await runCommand(parsed)
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`swallow ctl: ${err.message}\n(see swallow ctl --help)\n`)
      return EXIT.usage
    }
    const cause = (err as { cause?: { code?: string } }).cause
    if (cause === undefined) throw err
    process.stderr.write(`swallow ctl: cannot reach ${parsed.url}: ${cause.code ?? (err as Error).message}; is the broker running with its HTTP listener there (--url, SWALLOW_URL)?\n`)
    return EXIT.failed
  }
}

export function parseArgs (args: string[], env: NodeJS.ProcessEnv): CtlArgs {
  const out: CtlArgs = {
    words: [],
    url: (env.SWALLOW_URL || 'http://127.0.0.1:8080').replace(/\/+$/, ''),
    token: env.SWALLOW_TOKEN || env.SWALLOW_ADMIN_TOKEN || null,
    json: false,
    options: new Map(),
    flags: new Set()
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (!arg.startsWith('--')) {
      out.words.push(arg)
      continue
    }
    const name = arg.slice(2)
    const value = (): string => {
      const v = args[++i]
      if (v === undefined) throw new UsageError(`${arg}: missing value`)
      return v
    }
    if (name === 'url') out.url = value().replace(/\/+$/, '')
    else if (name === 'token') {
      // `--token $TOKEN` with TOKEN empty leaves --token without a value: no token.
      const next = args[i + 1]
      out.token = next !== undefined && !next.startsWith('--') ? (args[++i] || null) : null
    } else if (name === 'json') out.json = true
    else if (FLAG_OPTIONS.has(name)) out.flags.add(name)
    else if (VALUE_OPTIONS.has(name)) out.options.set(name, [...(out.options.get(name) ?? []), value()])
    else throw new UsageError(`unknown option ${arg}`)
  }
  if (!/^https?:\/\//.test(out.url)) throw new UsageError(`--url: expected http://host:port, got ${JSON.stringify(out.url)}`)
  return out
}

/** The option's single value, or undefined. */
export function option (a: CtlArgs, name: string): string | undefined {
  return a.options.get(name)?.at(-1)
}

export function positiveInt (a: CtlArgs, name: string): number | undefined {
  const raw = option(a, name)
  if (raw === undefined) return undefined
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new UsageError(`--${name}: expected a positive integer, got ${JSON.stringify(raw)}`)
  return Number(raw)
}

/** --expires 90s / 1h / 7d -> seconds. */
export function durationSeconds (raw: string): number {
  try {
    return (parseOptionValue({ key: 'expires', type: 'duration', default: null, help: '', min: 1000 }, raw, '--expires') as number) / 1000
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message)
    throw err
  }
}
