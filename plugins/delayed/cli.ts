// `swallow delayed list|cancel`: the delayed-publish admin API of a running broker, from a shell.
// Exit codes: 0 done, 1 failed (broker unreachable, refused, not found), 2 wrong usage.
import { callAdminApi, runAdminCommand, UsageError, type AdminArgs as Args } from '../../src/admin-cli.js'

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

interface Item { id: string, topic: string, dueAt: string, qos: number, size: number, publisher: { clientId: string, username: string | null } }

export async function run (args: string[]): Promise<number> {
  return await runAdminCommand({
    name: 'delayed',
    usage: USAGE,
    subcommands: ['list', 'cancel'],
    run: async opts => {
      if (opts.command === 'list' && opts.positional.length > 0) throw new UsageError('list takes no arguments')
      if (opts.command === 'cancel' && opts.positional.length !== 1) throw new UsageError('cancel takes exactly one ID (swallow delayed list shows them)')
      return opts.command === 'list' ? await list(opts) : await cancel(opts, opts.positional[0])
    }
  }, args)
}

const call = async (opts: Args, method: string, path: string): Promise<Record<string, unknown> | null> => await callAdminApi('delayed', opts, method, path)

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
