// `swallow retained list|get|clear`: the admin API of a running broker, from a shell.
// Exit codes: 0 done, 1 failed (broker unreachable, refused, not found), 2 wrong usage.
import { callAdminApi, runAdminCommand, UsageError, type AdminArgs as Args } from '../../src/admin-cli.js'

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

interface Item { topic: string, size: number, qos: number, storedAt: string, expiresAt: string | null }

export async function run (args: string[]): Promise<number> {
  return await runAdminCommand({
    name: 'retained',
    usage: USAGE,
    subcommands: ['list', 'get', 'clear'],
    run: async opts => {
      const wanted = opts.command === 'list' ? [0, 1] : [1, 1]
      if (opts.positional.length < wanted[0] || opts.positional.length > wanted[1]) {
        throw new UsageError(opts.command === 'list' ? 'list takes at most one FILTER' : `${opts.command} takes exactly one ${opts.command === 'get' ? 'TOPIC' : 'FILTER'}`)
      }
      switch (opts.command) {
        case 'list': return await list(opts)
        case 'get': return await get(opts)
        default: return await clear(opts)
      }
    }
  }, args)
}

const call = async (opts: Args, method: string, path: string, query: Record<string, string>): Promise<Record<string, unknown> | null> => await callAdminApi('retained', opts, method, path, query)

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
