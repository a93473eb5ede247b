// Where `swallow log` reads from: the files (the library, log/index.ts) or a running
// broker's stream API (--url), behind one shape.
import type { FromSpec } from './format.js'
import { recordFromJson, type RecordJson } from './format.js'
import type { StreamSummary } from './log/index.js'
import type { LogRecord } from './log/record.js'

export interface SourceStream {
  exists: () => Promise<boolean>
  resolve: (spec: FromSpec) => Promise<number>
  read: (from: number, max: number) => Promise<LogRecord[]>
  waitForMore: (next: number, ms: number) => Promise<void>
  groupOffset: (group: string) => Promise<number | null>
  commit: (group: string, offset: number) => Promise<void>
}

export interface LogSource {
  streams: () => Promise<StreamSummary[]>
  stream: (name: string) => SourceStream
  close: () => Promise<void>
}

export class HttpLogSource implements LogSource {
  private readonly base: string
  constructor (url: string, private readonly token: string | null) {
    this.base = url.replace(/\/+$/, '') + '/api/streams'
  }

  private async get (path: string, init: RequestInit = {}): Promise<Response> {
    const headers: Record<string, string> = { ...(init.headers as Record<string, string> ?? {}) }
    if (this.token) headers.authorization = `Bearer ${this.token}`
    const res = await fetch(this.base + path, { ...init, headers })
    if (res.status === 404 && path !== '') return res
    if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${this.base + path}: ${res.status} ${(await res.text()).trim()}`)
    return res
  }

  async streams (): Promise<StreamSummary[]> {
    return ((await (await this.get('')).json()) as { streams: StreamSummary[] }).streams
  }

  stream (name: string): SourceStream {
    const path = '/' + encodeURIComponent(name)
    return {
      exists: async () => (await this.get(path)).status === 200,
      resolve: async (spec) => {
        if (spec.kind === 'offset') return spec.offset
        const info = await (await this.get(path)).json() as { firstOffset: number, nextOffset: number }
        if (spec.kind === 'earliest') return info.firstOffset
        if (spec.kind === 'latest') return info.nextOffset
        const first = await this.readRecords(path, new Date(spec.ms).toISOString(), 1)
        return first.length > 0 ? first[0].offset : info.nextOffset
      },
      read: (from, max) => this.readRecords(path, String(from), max),
      waitForMore: (_next, ms) => new Promise(resolve => setTimeout(resolve, ms)),
      groupOffset: async (group) => ((await (await this.get(`${path}/groups/${encodeURIComponent(group)}`)).json()) as { offset: number | null }).offset,
      commit: async (group, offset) => {
        await this.get(`${path}/groups/${encodeURIComponent(group)}`, { method: 'POST', body: JSON.stringify({ offset }), headers: { 'content-type': 'application/json' } })
      }
    }
  }

  private async readRecords (path: string, from: string, limit: number): Promise<LogRecord[]> {
    const res = await this.get(`${path}/records?from=${encodeURIComponent(from)}&limit=${limit}`)
    const text = await res.text()
    return text.split('\n').filter(Boolean).map(line => recordFromJson(JSON.parse(line) as RecordJson))
  }

  async close (): Promise<void> {}
}
