// swallow log streams | swallow log tail STREAM: read the log bridge's streams, from the
// files (--data-dir; works while the broker runs and after a crash) or from a running
// broker's HTTP API (--url; also for Redis-backed streams).
import { ConfigError } from '../../src/errors.js'
import { FROM_HELP, parseFrom, recordToJson, recordToText, type FromSpec } from './format.js'
import { isValidName } from './log/layout.js'
import { openLog } from './log/index.js'
import { HttpLogSource, type LogSource } from './cli-source.js'
import type { LogRecord } from './log/record.js'

const HELP = `Usage:
  swallow log streams [--data-dir DIR | --url URL]
  swallow log tail STREAM [--from POSITION] [--follow] [--group NAME] [--format json|text]
                          [--limit N] [--data-dir DIR | --url URL] [--token TOKEN]

Reads the log bridge streams from the files under DIR/log (default --data-dir ./data; also
while the broker runs or after it crashed) or from a running broker (--url http://host:port).

  --from POSITION   ${FROM_HELP}
                    (default: the group's committed offset, else earliest; latest with --follow)
  --follow          keep printing new records until interrupted
  --group NAME      start at the group's committed offset and commit after each batch printed
  --format          json (one object per line, default; with MQTT 5 properties) or
                    text (offset time topic payload)
  --limit N         stop after N records
  --token TOKEN     admin token for --url (else $SWALLOW_ADMIN_TOKEN)
`

interface TailArgs {
  stream: string
  from: FromSpec | null
  follow: boolean
  group: string | null
  format: 'json' | 'text'
  limit: number
}

export async function run (args: string[]): Promise<number> {
  const [command, ...rest] = args
  if (command === undefined || command === '--help' || command === '-h' || rest.includes('--help')) {
    process.stdout.write(HELP)
    return command === undefined ? 2 : 0
  }
  // `swallow log tail s | head`: the reader went away, which is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(0) })
  const opts = parseFlags(rest)
  const source = opts.url ? new HttpLogSource(opts.url, opts.token) : openLog(opts.dataDir ?? './data')
  try {
    if (command === 'streams') {
      if (opts.positional.length > 0) throw new ConfigError('log streams takes no arguments')
      for (const s of await source.streams()) {
        process.stdout.write(JSON.stringify(s) + '\n')
      }
      return 0
    }
    if (command === 'tail') return await tail(source, tailArgs(opts))
    throw new ConfigError(`unknown log command "${command}"; use streams or tail (see swallow log --help)`)
  } catch (err) {
    if (err instanceof ConfigError) throw err
    process.stderr.write(`swallow log: ${(err as Error).message}\n`)
    return 1
  } finally {
    await source.close()
  }
}

interface Flags {
  positional: string[]
  values: Map<string, string>
  bools: Set<string>
  dataDir?: string
  url?: string
  token: string | null
}

const VALUE_FLAGS = new Set(['--from', '--group', '--format', '--limit', '--data-dir', '--url', '--token'])
const BOOL_FLAGS = new Set(['--follow'])

function parseFlags (args: string[]): Flags {
  const positional: string[] = []
  const values = new Map<string, string>()
  const bools = new Set<string>()
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (!arg.startsWith('--')) { positional.push(arg); continue }
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg : arg.slice(0, eq)
    if (BOOL_FLAGS.has(name)) { bools.add(name); continue }
    if (!VALUE_FLAGS.has(name)) throw new ConfigError(`unknown option ${name}; see swallow log --help`)
    // `--token $TOKEN` with TOKEN empty (the loopback case) leaves --token without a value: no token.
    if (name === '--token' && eq === -1 && (args[i + 1] === undefined || args[i + 1].startsWith('--'))) continue
    const value = eq === -1 ? args[++i] : arg.slice(eq + 1)
    if (value === undefined) throw new ConfigError(`${name}: missing value`)
    values.set(name, value)
  }
  if (values.has('--url') && values.has('--data-dir')) throw new ConfigError('give either --url or --data-dir, not both')
  return {
    positional, values, bools,
    dataDir: values.get('--data-dir'),
    url: values.get('--url'),
    token: values.get('--token') || process.env.SWALLOW_ADMIN_TOKEN || null
  }
}

function tailArgs (f: Flags): TailArgs {
  if (f.positional.length !== 1) throw new ConfigError('log tail: name one stream (swallow log tail STREAM)')
  const stream = f.positional[0]
  if (!isValidName(stream)) throw new ConfigError(`invalid stream name ${JSON.stringify(stream)}`)
  const fromText = f.values.get('--from')
  const from = fromText === undefined ? null : parseFrom(fromText)
  if (fromText !== undefined && from === null) throw new ConfigError(`--from: invalid value ${JSON.stringify(fromText)}; expected ${FROM_HELP}`)
  const format = f.values.get('--format') ?? 'json'
  if (format !== 'json' && format !== 'text') throw new ConfigError('--format: expected json or text')
  const group = f.values.get('--group') ?? null
  if (group !== null && !isValidName(group)) throw new ConfigError(`--group: invalid group name ${JSON.stringify(group)}`)
  const limitText = f.values.get('--limit')
  const limit = limitText === undefined ? Infinity : Number(limitText)
  if (!(limit > 0) || (limitText !== undefined && !/^\d+$/.test(limitText))) throw new ConfigError('--limit: expected a positive integer')
  return { stream, from, follow: f.bools.has('--follow'), group, format, limit }
}

async function tail (source: LogSource, a: TailArgs): Promise<number> {
  const stream = source.stream(a.stream)
  if (!await stream.exists()) {
    process.stderr.write(`swallow log: no stream ${JSON.stringify(a.stream)} (swallow log streams lists them)\n`)
    return 1
  }
  const committed = a.group !== null ? await stream.groupOffset(a.group) : null
  const spec: FromSpec = a.from ?? (committed !== null ? { kind: 'offset', offset: committed } : { kind: a.follow ? 'latest' : 'earliest' })
  let next = await stream.resolve(spec)
  let left = a.limit
  let stop = false
  const onSignal = (): void => { stop = true }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    while (!stop && left > 0) {
      const batch: LogRecord[] = await stream.read(next, Math.min(1000, left))
      if (batch.length === 0) {
        if (!a.follow) break
        await stream.waitForMore(next, 200)
        continue
      }
      let out = ''
      for (const r of batch) out += (a.format === 'json' ? JSON.stringify(recordToJson(r)) : recordToText(r)) + '\n'
      if (!process.stdout.write(out)) await new Promise(resolve => process.stdout.once('drain', resolve))
      next = batch[batch.length - 1].offset + 1
      left -= batch.length
      if (a.group !== null) await stream.commit(a.group, next)
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  return 0
}
