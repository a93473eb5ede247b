// `swallow delayed list|cancel`: the delayed-publish admin API of a running broker, from a shell.
// Exit codes: 0 done, 1 failed (broker unreachable, refused, not found), 2 wrong usage.

const USAGE = `Usage: swallow delayed list [--limit N] [--json] [--url URL] [--token TOKEN]
       swallow delayed cancel ID [--url URL] [--token TOKEN]

Lists and cancels the messages published to $delayed/<seconds>/<topic> that wait to be
published, through the HTTP admin API of a running Swallow.
  list    pending messages in due order: id, due time, topic, QoS, size, publisher
  cancel  deletes one pending message (its id from list); it is never published
 --url    the broker's HTTP listener (default http://127.0.0.1:8080)
 --token  its --admin-token (default: $SWALLOW_ADMIN_TOKEN)
 --limit  list at most N messages (default: all, fetched page by page)
 --json   print the API's JSON, one object per line
`

class UsageError extends Error {}

interface Args { command: 'list' | 'cancel', id: string | null, url: string, token: string | null, limit: number | null, json: boolean }

interface Item { id: string, topic: string, dueAt: string, qos: number, size: number, publisher: { clientId: string, username: string | null } }

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
    process.stderr.write(`swallow delayed: ${err.message}\n\n${USAGE}`)
    return 2
  }
  try {
    return opts.command === 'list' ? await list(opts) : await cancel(opts, opts.id as string)
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause
    process.stderr.write(`swallow delayed: cannot reach ${opts.url}: ${cause?.code ?? (err as Error).message}; is the broker running with its HTTP listener there (--url)?\n`)
    return 1
  }
}

function parseArgs (args: string[]): Args {
  const [command, ...rest] = args
  if (command !== 'list' && command !== 'cancel') throw new UsageError(`unknown subcommand ${JSON.stringify(command)}; use list or cancel`)
  const out: Args = { command, id: null, url: 'http://127.0.0.1:8080', token: process.env.SWALLOW_ADMIN_TOKEN || null, limit: null, json: false }
  const positional: string[] = []
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]
    const value = (): string => {
      const v = rest[++i]
      if (v === undefined) throw new UsageError(`${arg}: missing value`)
      return v
    }
    if (arg === '--url') out.url = value().replace(/\/+$/, '')
    else if (arg === '--token') out.token = value() || null
    else if (arg === '--json') out.json = true
    else if (arg === '--limit') {
      const n = Number(value())
      if (!Number.isInteger(n) || n < 1) throw new UsageError('--limit: expected a positive integer')
      out.limit = n
    } else if (arg.startsWith('--')) throw new UsageError(`unknown option ${arg}`)
    else positional.push(arg)
  }
  if (command === 'list' && positional.length > 0) throw new UsageError('list takes no arguments')
  if (command === 'cancel' && positional.length !== 1) throw new UsageError('cancel takes exactly one ID (swallow delayed list shows them)')
  out.id = positional[0] ?? null
  if (!/^https?:\/\//.test(out.url)) throw new UsageError('--url: expected http://host:port')
  return out
}

/** Calls the API; prints the error and returns null when it answered with one. */
async function call (opts: Args, method: string, path: string): Promise<Record<string, unknown> | null> {
  const headers: Record<string, string> = opts.token !== null ? { authorization: `Bearer ${opts.token}` } : {}
  const res = await fetch(opts.url + path, { method, headers })
  const body = await res.json().catch(() => ({})) as Record<string, unknown>
  if (res.ok) return body
  const hint = res.status === 401 ? ' (pass --token or set SWALLOW_ADMIN_TOKEN)' : ''
  process.stderr.write(`swallow delayed: ${String(body.error ?? `HTTP ${res.status}`)}${hint}\n`)
  return null
}

async function list (opts: Args): Promise<number> {
  let cursor: string | null = null
  let left = opts.limit ?? Infinity
  do {
    const page = await call(opts, 'GET', `/api/delayed?limit=${Math.min(1000, left)}${cursor !== null ? `&cursor=${cursor}` : ''}`)
    if (page === null) return 1
    const items = page.items as Item[]
    const lines = items.map(i => opts.json ? JSON.stringify(i) : `${i.id}\t${i.dueAt}\t${i.topic}\tqos ${i.qos}\t${i.size} B\t${i.publisher.clientId}`)
    if (lines.length > 0) process.stdout.write(lines.join('\n') + '\n')
    left -= items.length
    cursor = page.cursor as string | null
  } while (cursor !== null && left > 0)
  return 0
}

async function cancel (opts: Args, id: string): Promise<number> {
  const result = await call(opts, 'DELETE', `/api/delayed/${encodeURIComponent(id)}`)
  if (result === null) return 1
  process.stdout.write(`cancelled ${id}\n`)
  return 0
}
