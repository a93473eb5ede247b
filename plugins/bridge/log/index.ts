// The library entry point for Node backends: import { openLog } from 'swallow/log'.
// Reads the embedded streams' files directly (no broker needed; safe while one runs):
//
//   const log = openLog('/var/lib/swallow')           // the broker's --data-dir
//   for await (const r of log.stream('telemetry').records({ from: 'earliest', follow: true, group: 'billing' })) {
//     handle(r)       // r.offset, r.time, r.topic, r.payload (Buffer), r.qos, r.retain, r.clientId, r.username,
//   }                 // and, for MQTT 5 messages that had them, r.properties and r.messageExpiry
//
// With `group`, reading starts at the group's committed offset and commits after each batch
// handed out, so a restarted consumer resumes there (at-least-once: the batch in progress
// when it stopped is read again).
import { stat } from 'node:fs/promises'
import { parseFrom, resolveFrom, type FromSpec } from '../format.js'
import { FileGroupStore, type GroupPosition } from './groups.js'
import { isValidName, listStreamDirs, streamDir } from './layout.js'
import { LogReader, type LogBounds, type LogCursor } from './reader.js'
import type { LogRecord } from './record.js'
import type { MessageProperties } from '../../../src/protocol/types.js'

export type { LogRecord, LogBounds, GroupPosition, FromSpec, MessageProperties }

export interface StreamSummary {
  name: string
  store: 'embedded' | 'redis'
  firstOffset: number
  lastOffset: number | null
  nextOffset: number
  bytes: number
}

export interface RecordsOptions {
  /** earliest | latest | an offset | an ISO time | a FromSpec; default: the group's offset, else earliest. */
  from?: string | number | FromSpec
  follow?: boolean
  group?: string
  /** Records per batch (and per commit). */
  batch?: number
  /** How often a follower polls the files for new records. */
  pollMs?: number
  signal?: AbortSignal
}

export class LogStream {
  private readonly reader: LogReader
  private readonly groups: FileGroupStore
  private cursor: LogCursor | null = null

  constructor (readonly name: string, readonly dir: string) {
    this.reader = new LogReader(dir)
    this.groups = new FileGroupStore(dir)
  }

  async exists (): Promise<boolean> {
    return await stat(this.dir).then(s => s.isDirectory(), () => false)
  }

  bounds (): Promise<LogBounds> { return this.reader.bounds() }

  offsetForTime (ms: number): Promise<number> { return this.reader.offsetForTime(ms) }

  resolve (spec: FromSpec): Promise<number> {
    return resolveFrom(spec, () => this.reader.bounds(), ms => this.reader.offsetForTime(ms))
  }

  /** Up to `max` records from `from` on (sequential calls reuse one cursor). */
  async read (from: number, max: number): Promise<LogRecord[]> {
    if (!this.cursor || this.cursor.nextOffset !== from) {
      await this.cursor?.close()
      this.cursor = this.reader.cursor(from)
    }
    return await this.cursor.read(max)
  }

  async waitForMore (_next: number, ms: number): Promise<void> {
    await new Promise(resolve => setTimeout(resolve, ms))
  }

  async groupOffset (group: string): Promise<number | null> {
    return (await this.groups.get(group))?.offset ?? null
  }

  async commit (group: string, offset: number): Promise<void> {
    await this.groups.commit(group, offset)
  }

  async * records (opts: RecordsOptions = {}): AsyncGenerator<LogRecord> {
    if (opts.group !== undefined && !isValidName(opts.group)) throw new Error(`invalid group name ${JSON.stringify(opts.group)}`)
    const committed = opts.group !== undefined ? await this.groupOffset(opts.group) : null
    let next = await this.resolve(toSpec(opts.from, committed))
    const batch = opts.batch ?? 1000
    try {
      while (!opts.signal?.aborted) {
        const records = await this.read(next, batch)
        if (records.length === 0) {
          if (!opts.follow) return
          await this.waitForMore(next, opts.pollMs ?? 100)
          continue
        }
        for (const r of records) yield r
        next = records[records.length - 1].offset + 1
        if (opts.group !== undefined) await this.commit(opts.group, next)
      }
    } finally {
      await this.close()
    }
  }

  async close (): Promise<void> {
    await this.cursor?.close()
    this.cursor = null
  }
}

function toSpec (from: RecordsOptions['from'], committed: number | null): FromSpec {
  if (from === undefined) return committed !== null ? { kind: 'offset', offset: committed } : { kind: 'earliest' }
  if (typeof from === 'number') return { kind: 'offset', offset: from }
  if (typeof from === 'string') {
    const spec = parseFrom(from)
    if (!spec) throw new Error(`from: invalid position ${JSON.stringify(from)}`)
    return spec
  }
  return from
}

export class SwallowLog {
  private readonly open = new Map<string, LogStream>()

  constructor (readonly dataDir: string) {}

  async streams (): Promise<StreamSummary[]> {
    const out: StreamSummary[] = []
    for (const name of await listStreamDirs(this.dataDir)) {
      const b = await new LogReader(streamDir(this.dataDir, name)).bounds()
      out.push({ name, store: 'embedded', firstOffset: b.first, lastOffset: b.next > b.first ? b.next - 1 : null, nextOffset: b.next, bytes: b.bytes })
    }
    return out
  }

  stream (name: string): LogStream {
    if (!isValidName(name)) throw new Error(`invalid stream name ${JSON.stringify(name)}`)
    let s = this.open.get(name)
    if (!s) this.open.set(name, s = new LogStream(name, streamDir(this.dataDir, name)))
    return s
  }

  async close (): Promise<void> {
    for (const s of this.open.values()) await s.close()
  }
}

/** Opens the log of a broker's data directory (its --data-dir) for reading. */
export function openLog (dataDir: string): SwallowLog {
  return new SwallowLog(dataDir)
}
