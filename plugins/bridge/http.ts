// The stream API on the HTTP listener:
//   GET  /api/streams                          streams: name, store, first/last offset, bytes, records/s, damaged ranges
//   GET  /api/streams/:s/records?from=&limit=  NDJSON, one record per line
//   GET  /api/streams/:s/follow?from=          Server-Sent Events (sse.ts)
//   GET  /api/streams/:s/groups                 its consumer groups: committed position and lag
//   GET  /api/streams/:s/groups/:g             a consumer group's committed position
//   POST /api/streams/:s/groups/:g {"offset"}  commit (the next offset the group reads)
// Access: with an admin token, "Authorization: Bearer <token>"; without one, only when the
// HTTP listener is loopback-only.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { sendJson, type HttpRoutes } from '../../src/listeners/http.js'
import type { Logger } from '../../src/logger.js'
import { FROM_HELP, parseFrom, recordToJson, resolveFrom } from './format.js'
import { isValidName } from './log/layout.js'
import { drained, serveFollow } from './sse.js'
import type { StreamStore } from './store.js'
import type { StreamRegistry } from './streams.js'

export interface ApiOptions {
  log: Logger
}

const MAX_LIMIT = 100_000
const PREFIX = '/api/streams/'

export function registerStreamApi (routes: HttpRoutes, registry: StreamRegistry, opts: ApiOptions): void {
  routes.add('GET', '/api/streams', async (req, res) => {
    const streams = []
    for (const store of registry.list()) streams.push(await describe(store, registry))
    sendJson(res, 200, { streams })
  })

  const route = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const parts = url.pathname.slice(PREFIX.length).split('/').map(decodeURIComponent)
    const store = registry.get(parts[0])
    if (!store) return sendJson(res, 404, { error: `no stream ${JSON.stringify(parts[0])}; GET /api/streams lists them` })
    const method = req.method === 'HEAD' ? 'GET' : req.method
    if (parts.length === 1 && method === 'GET') return sendJson(res, 200, await describe(store, registry))
    if (parts.length === 2 && parts[1] === 'records' && method === 'GET') return await records(store, url, res)
    if (parts.length === 2 && parts[1] === 'follow' && method === 'GET') {
      const from = await fromParam(store, url, res, 'latest', req.headers['last-event-id'])
      if (from !== null) await serveFollow(req, res, store, from)
      return
    }
    if (parts.length === 2 && parts[1] === 'groups' && method === 'GET') return sendJson(res, 200, await groups(store))
    if (parts.length === 3 && parts[1] === 'groups') return await group(store, parts[2], req, res)
    sendJson(res, 404, { error: `no route ${req.method} ${url.pathname}` })
  }
  routes.add('GET', PREFIX + '*', route)
  routes.add('POST', PREFIX + '*', route)
}

async function describe (store: StreamStore, registry: StreamRegistry): Promise<object> {
  const b = await store.bounds()
  const damage = store.damage()
  return {
    name: store.name,
    store: store.kind,
    firstOffset: b.first,
    lastOffset: b.next > b.first ? b.next - 1 : null,
    nextOffset: b.next,
    // What /records hands out: the offsets lost in damaged ranges are not records.
    records: b.next - b.first - damage.records,
    bytes: b.bytes,
    recordsPerSecond: registry.recordsPerSecond(store.name),
    damaged: {
      records: damage.records,
      bytes: damage.bytes,
      verified: damage.verified,
      ranges: damage.ranges.map(r => ({ segment: r.segment, fromByte: r.from, toByte: r.to, firstOffset: r.firstOffset, lastOffset: r.endOffset - 1, records: r.records }))
    }
  }
}

async function fromParam (store: StreamStore, url: URL, res: ServerResponse, fallback: string, lastEventId?: string | string[]): Promise<number | null> {
  if (typeof lastEventId === 'string' && /^\d+$/.test(lastEventId)) return Number(lastEventId) + 1
  const spec = parseFrom(url.searchParams.get('from') ?? fallback)
  if (!spec) {
    sendJson(res, 400, { error: `from: expected ${FROM_HELP}` })
    return null
  }
  return await resolveFrom(spec, () => store.bounds(), ms => store.offsetForTime(ms))
}

async function records (store: StreamStore, url: URL, res: ServerResponse): Promise<void> {
  const limitText = url.searchParams.get('limit') ?? '1000'
  const limit = /^\d+$/.test(limitText) ? Math.min(Number(limitText), MAX_LIMIT) : NaN
  if (!Number.isFinite(limit) || limit < 1) return sendJson(res, 400, { error: `limit: expected a number 1-${MAX_LIMIT}` })
  const from = await fromParam(store, url, res, 'earliest')
  if (from === null) return
  const cursor = store.cursor(from)
  try {
    res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8' })
    let left = limit
    while (left > 0) {
      const batch = await cursor.read(Math.min(left, 1000))
      if (batch.length === 0) break
      left -= batch.length
      let text = ''
      for (const r of batch) text += JSON.stringify(recordToJson(r)) + '\n'
      if (!res.write(text)) await drained(res)
      if (res.destroyed) break
    }
    res.end()
  } finally {
    await cursor.close()
  }
}

/** The stream's consumer groups; lag: the records from the group's next offset to the stream's end (those trimmed away not counted). */
async function groups (store: StreamStore): Promise<object> {
  const [b, list] = await Promise.all([store.bounds(), store.groups.list()])
  return {
    stream: store.name,
    nextOffset: b.next,
    groups: list.map(g => ({ group: g.group, offset: g.offset, committedAt: g.committedAt, lag: Math.max(0, b.next - Math.max(g.offset, b.first)) }))
  }
}

async function group (store: StreamStore, name: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!isValidName(name)) return sendJson(res, 400, { error: 'group names are 1-128 characters of A-Z a-z 0-9 . _ -' })
  if (req.method === 'POST') {
    let body: { offset?: unknown }
    try {
      body = JSON.parse(await readBody(req, 4096)) as { offset?: unknown }
    } catch {
      return sendJson(res, 400, { error: 'expected a JSON body {"offset": N}' })
    }
    const offset = body?.offset
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
      return sendJson(res, 400, { error: 'offset: expected the next offset to read, an integer >= 0' })
    }
    const { next } = await store.bounds()
    if (offset > next) return sendJson(res, 400, { error: `offset ${offset} is past the end of ${store.name} (next offset ${next})` })
    return sendJson(res, 200, { stream: store.name, ...await store.groups.commit(name, offset) })
  }
  const position = await store.groups.get(name)
  sendJson(res, 200, { stream: store.name, group: name, offset: position?.offset ?? null, committedAt: position?.committedAt ?? null })
}

function readBody (req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => {
      body += chunk
      if (body.length > max) reject(new Error('body too large'))
    })
    req.on('end', () => resolve(body))
    req.on('error', reject)
  })
}
