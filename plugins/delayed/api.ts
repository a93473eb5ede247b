// The admin HTTP API of delayed publish (behind --admin-token like every /api route):
//   GET    /api/delayed?cursor=ID&limit=N   a page of pending messages, in due order:
//          {items: [{id, topic, dueAt, qos, retain, size, storedAt, expiresAt, publisher}], cursor, pending}
//   DELETE /api/delayed/ID                   cancels one: {cancelled: ID}, 404 if it is not pending
import { sendJson, type HttpRoutes } from '../../src/listeners/http.js'
import type { DelayedBackend } from './backend.js'
import { isId, type DelayedRecord } from './record.js'

const DEFAULT_LIMIT = 100
const MAX_LIMIT = 1000

export function registerDelayedApi (routes: HttpRoutes, backend: DelayedBackend, cancelled: () => void): void {
  routes.add('GET', '/api/delayed', async (_req, res, url) => {
    const limit = parseLimit(url.searchParams.get('limit'))
    if (limit === null) return sendJson(res, 400, { error: `limit: expected an integer from 1 to ${MAX_LIMIT}` })
    const cursor = url.searchParams.get('cursor') || null
    if (cursor !== null && !isId(cursor)) return sendJson(res, 400, { error: 'cursor: pass the cursor of the previous page, or none for the first' })
    const items = await backend.page(cursor, limit)
    sendJson(res, 200, {
      items: items.map(describe),
      cursor: items.length === limit ? items[items.length - 1].id : null,
      pending: await backend.pending()
    })
  })

  routes.add('DELETE', '/api/delayed/*', async (_req, res, url) => {
    const id = decodeURIComponent(url.pathname.slice('/api/delayed/'.length))
    if (!isId(id)) return sendJson(res, 400, { error: `${JSON.stringify(id.slice(0, 100))} is not a delayed message id (GET /api/delayed lists them)` })
    if (!await backend.remove(id)) return sendJson(res, 404, { error: `no pending delayed message ${id} (published or cancelled already)` })
    cancelled()
    sendJson(res, 200, { cancelled: id })
  })
}

function describe (r: DelayedRecord): Record<string, unknown> {
  return {
    id: r.id,
    topic: r.topic,
    dueAt: new Date(r.dueAt).toISOString(),
    qos: r.qos,
    retain: r.retain,
    size: r.payload.length,
    storedAt: new Date(r.storedAt).toISOString(),
    expiresAt: r.messageExpiry != null ? new Date(r.messageExpiry).toISOString() : null,
    publisher: { clientId: r.clientId, username: r.username }
  }
}

function parseLimit (raw: string | null): number | null {
  if (raw === null || raw === '') return DEFAULT_LIMIT
  if (!/^\d+$/.test(raw)) return null
  const n = Number(raw)
  return n >= 1 && n <= MAX_LIMIT ? n : null
}
