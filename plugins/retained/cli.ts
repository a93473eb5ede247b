// `swallow retained list|get|clear`: the admin API of a running broker, from a shell.
// Exit codes: 0 done, 1 failed (broker unreachable, refused, not found), 2 wrong usage.

const USAGE = `Usage: swallow retained list [FILTER] [--limit N] [--json] [--url URL] [--token TOKEN]
       swallow retained get TOPIC [--json] [--url URL] [--token TOKEN]
       swallow retained clear FILTER [--url URL] [--token TOKEN]

Reads and clears the retained messages of a running Swallow through its HTTP admin API.
  list   topics matching FILTER (default #), with payload size, QoS and stored time
  get    one retained message: its payload as text (base64 when not UTF-8)
  clear  removes every retained message matching FILTER and prints how many
 --url    the broker's HTTP listener (default http://127.0.0.1:8080)
 --token  its --admin-token (default: $SWALLOW_ADMIN_TOKEN)
 --limit  list at most N messages (default: all, fetched page by page)
 --json   print the API's JSON (one object per line for list)
`

class UsageError extends Error {}

interface Args {
  command: string
  positional: string[]
  url: string
  token: string | null
  limit: number | null
  json: boolean
}

interface Item { topic: string, size: number, qos: number, storedAt: string, expiresAt: string | null }

export async function run (args: string[]): Promise<number> {
  if (args.length === 0 || args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE)
    return args.length === 0 ? 2 : 0
  }
  let opts: Args
  try {
    opts = parseArgs(args)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`swallow retained: ${err.message}\n\n${USAGE}`)
    return 2
  }
  try {
    switch (opts.command) {
      case 'list': return await list(opts)
      case 'get': return await get(opts)
      default: return await clear(opts)
    }
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause
    process.stderr.write(`swallow retained: cannot reach ${opts.url}: ${cause?.code ?? (err as Error).message}; is the broker running with its HTTP listener there (--url)?\n`)
    return 1
  }
}

function parseArgs (args: string[]): Args {
  const [command, ...rest] = args
  if (!['list', 'get', 'clear'].includes(command)) throw new UsageError(`unknown subcommand ${JSON.stringify(command)}; use list, get or clear`)
  const out: Args = { command, positional: [], url: 'http://127.0.0.1:8080', token: process.env.SWALLOW_ADMIN_TOKEN || null, limit: null, json: false }
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
    }
    else if (arg === '--json') out.json = true
    else if (arg === '--limit') {
      const n = Number(value())
      if (!Number.isInteger(n) || n < 1) throw new UsageError('--limit: expected a positive integer')
      out.limit = n
    } else if (arg.startsWith('--')) throw new UsageError(`unknown option ${arg}`)
    else out.positional.push(arg)
  }
  const wanted = command === 'list' ? [0, 1] : [1, 1]
  if (out.positional.length < wanted[0] || out.positional.length > wanted[1]) {
    throw new UsageError(command === 'list' ? 'list takes at most one FILTER' : `${command} takes exactly one ${command === 'get' ? 'TOPIC' : 'FILTER'}`)
  }
  if (!/^https?:\/\//.test(out.url)) throw new UsageError('--url: expected http://host:port')
  return out
}

/** Calls the API; prints the error and returns null when it answered with one. */
async function call (opts: Args, method: string, path: string, query: Record<string, string>): Promise<Record<string, unknown> | null> {
  const url = new URL(opts.url + path)
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v)
  const headers: Record<string, string> = opts.token !== null ? { authorization: `Bearer ${opts.token}` } : {}
  const res = await fetch(url, { method, headers })
  const body = await res.json().catch(() => ({})) as Record<string, unknown>
  if (res.ok) return body
  const hint = res.status === 401 ? ' (pass --token or set SWALLOW_ADMIN_TOKEN)' : ''
  process.stderr.write(`swallow retained: ${String(body.message ?? body.error ?? `HTTP ${res.status}`)}${hint}\n`)
  return null
}

async function list (opts: Args): Promise<number> {
  const filter = opts.positional[0] ?? '#'
  let cursor: string | null = null
  let left = opts.limit ?? Infinity
  do {
    const query: Record<string, string> = { filter, limit: String(Math.min(1000, left)) }
    if (cursor !== null) query.cursor = cursor
    const page = await call(opts, 'GET', '/api/retained', query)
    if (page === null) return 1
    const items = page.items as Item[]
    const lines = items.map(i => opts.json ? JSON.stringify(i) : `${i.topic}\t${i.size} B\tqos ${i.qos}\t${i.storedAt}${i.expiresAt !== null ? `\texpires ${i.expiresAt}` : ''}`)
    if (lines.length > 0) process.stdout.write(lines.join('\n') + '\n')
    left -= items.length
    cursor = page.cursor as string | null
  } while (cursor !== null && left > 0)
  return 0
}

async function get (opts: Args): Promise<number> {
  const found = await call(opts, 'GET', '/api/retained/one', { topic: opts.positional[0] })
  if (found === null) return 1
  if (opts.json) process.stdout.write(JSON.stringify(found) + '\n')
  else if (found.payloadText !== null) process.stdout.write(String(found.payloadText) + '\n')
  else process.stdout.write(`(binary payload, base64) ${String(found.payloadBase64)}\n`)
  return 0
}

async function clear (opts: Args): Promise<number> {
  const result = await call(opts, 'DELETE', '/api/retained', { filter: opts.positional[0] })
  if (result === null) return 1
  process.stdout.write(`cleared ${String(result.cleared)} retained message(s) matching ${opts.positional[0]}\n`)
  return 0
}
