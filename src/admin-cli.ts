// What the `swallow <name> <subcommand>` commands of plugins that talk to a running broker's
// HTTP admin API share (retained, delayed): their arguments (--url, --token, --limit,
// --json), the API call with its error line, and the exit codes: 0 done, 1 failed (broker
// unreachable, refused, not found), 2 wrong usage.

export class UsageError extends Error {}

export interface AdminArgs {
  command: string
  positional: string[]
  url: string
  token: string | null
  limit: number | null
  json: boolean
}

export interface AdminCommand {
  /** The command's name after `swallow` (for messages). */
  name: string
  usage: string
  subcommands: readonly string[]
  /** Checks the positional arguments (throws UsageError) and runs the subcommand; resolves the exit code. */
  run: (args: AdminArgs) => Promise<number>
}

export async function runAdminCommand (command: AdminCommand, argv: string[]): Promise<number> {
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(command.usage)
    return argv.length === 0 ? 2 : 0
  }
  let args: AdminArgs | null = null
  try {
    args = parseAdminArgs(argv, command.subcommands)
    return await command.run(args)
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`swallow ${command.name}: ${err.message}\n\n${command.usage}`)
      return 2
    }
    if (args === null) throw err
    const cause = (err as { cause?: { code?: string } }).cause
    process.stderr.write(`swallow ${command.name}: cannot reach ${args.url}: ${cause?.code ?? (err as Error).message}; is the broker running with its HTTP listener there (--url)?\n`)
    return 1
  }
}

function parseAdminArgs (argv: string[], subcommands: readonly string[]): AdminArgs {
  const [command, ...rest] = argv
  if (!subcommands.includes(command)) throw new UsageError(`unknown subcommand ${JSON.stringify(command)}; use ${subcommands.join(', ')}`)
  const out: AdminArgs = { command, positional: [], url: 'http://127.0.0.1:8080', token: process.env.SWALLOW_ADMIN_TOKEN || null, limit: null, json: false }
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]
    const value = (): string => {
      const v = rest[++i]
      if (v === undefined) throw new UsageError(`${arg}: missing value`)
      return v
    }
    if (arg === '--url') out.url = value().replace(/\/+$/, '')
    else if (arg === '--token') {
      // `--token $TOKEN` with TOKEN empty (the loopback case) leaves --token without a value: no token.
      const next = rest[i + 1]
      if (next !== undefined && !next.startsWith('--')) out.token = rest[++i] || null
    } else if (arg === '--json') out.json = true
    else if (arg === '--limit') {
      const n = Number(value())
      if (!Number.isInteger(n) || n < 1) throw new UsageError('--limit: expected a positive integer')
      out.limit = n
    } else if (arg.startsWith('--')) throw new UsageError(`unknown option ${arg}`)
    else out.positional.push(arg)
  }
  if (!/^https?:\/\//.test(out.url)) throw new UsageError('--url: expected http://host:port')
  return out
}

/** Calls the API; prints the error (as `swallow <name>: ...`) and returns null when it answered with one. */
export async function callAdminApi (name: string, args: AdminArgs, method: string, path: string, query: Record<string, string> = {}): Promise<Record<string, unknown> | null> {
  const url = new URL(args.url + path)
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v)
  const headers: Record<string, string> = args.token !== null ? { authorization: `Bearer ${args.token}` } : {}
  const res = await fetch(url, { method, headers })
  const body = await res.json().catch(() => ({})) as Record<string, unknown>
  if (res.ok) return body
  const hint = res.status === 401 ? ' (pass --token or set SWALLOW_ADMIN_TOKEN)' : ''
  process.stderr.write(`swallow ${name}: ${String(body.message ?? body.error ?? `HTTP ${res.status}`)}${hint}\n`)
  return null
}
