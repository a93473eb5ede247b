// The admin HTTP API of the retained store:
//   GET    /api/retained?filter=F&cursor=C&limit=N   a page of {topic, size, qos, storedAt, expiresAt}
//   GET    /api/retained/one?topic=T                 one message, payload as base64 (and text when UTF-8), MQTT 5 properties
//   DELETE /api/retained?filter=F                    clears the matching ones: {cleared: n}
// The core guards every /api route (--admin-token, or a loopback-only listener).
import { isUtf8 } from 'node:buffer'
import { sendJson, type HttpRoutes } from '../../src/listeners/http.js'
import { CursorError, type RetainedInfo, type RetainedStore } from './store.js'
import { filterProblem } from './trie.js'

const DEFAULT_LIMIT = 100
const MAX_LIMIT = 1000

export function registerRetainedApi (routes: HttpRoutes, store: RetainedStore): void {
  routes.add('GET', '/api/retained', async (_req, res, url) => {
    const filter = url.searchParams.get('filter') ?? '#'
    const problem = filterProblem(filter)
    if (problem !== null) return sendJson(res, 400, { error: `filter ${JSON.stringify(filter)}: ${problem}` })
    const limit = parseLimit(url.searchParams.get('limit'))
    if (limit === null) return sendJson(res, 400, { error: `limit: expected an integer from 1 to ${MAX_LIMIT}` })
    try {
      const page = store.list(filter, url.searchParams.get('cursor') || null, limit)
      sendJson(res, 200, { filter, items: page.items.map(describe), cursor: page.cursor })
    } catch (err) {
      if (err instanceof CursorError) return sendJson(res, 400, { error: err.message })
      throw err
    }
  })

  routes.add('GET', '/api/retained/one', async (_req, res, url) => {
    const topic = url.searchParams.get('topic')
    if (topic === null || topic === '' || topic.includes('+') || topic.includes('#')) {
      return sendJson(res, 400, { error: 'topic: pass one topic name, without wildcards (?topic=devices/d1/status)' })
    }
    const found = await store.one(topic)
    if (found === undefined) return sendJson(res, 404, { error: `no retained message on ${JSON.stringify(topic)}` })
    const { payload, properties } = found.message
    sendJson(res, 200, {
      ...describe(found.info),
      payloadBase64: payload.toString('base64'),
      payloadText: isUtf8(payload) ? payload.toString('utf8') : null,
      // MQTT 5 properties as stored; Correlation Data as base64.
      ...(properties != null ? { properties: { ...properties, ...(properties.correlationData != null ? { correlationData: Buffer.from(properties.correlationData).toString('base64') } : {}) } } : {})
    })
  })

  routes.add('DELETE', '/api/retained', async (_req, res, url) => {
    const filter = url.searchParams.get('filter')
    if (filter === null) return sendJson(res, 400, { error: 'filter: required (use ?filter=%23 to clear every retained message)' })
    const problem = filterProblem(filter)
    if (problem !== null) return sendJson(res, 400, { error: `filter ${JSON.stringify(filter)}: ${problem}` })
    sendJson(res, 200, { filter, cleared: await store.clearMatching(filter) })
  })
}

function describe (i: RetainedInfo): Record<string, unknown> {
  return {
    topic: i.topic,
    size: i.size,
    qos: i.qos,
    storedAt: new Date(i.storedAt).toISOString(),
    expiresAt: i.expiresAt === 0 ? null : new Date(i.expiresAt).toISOString()
  }
}

function parseLimit (raw: string | null): number | null {
  if (raw === null || raw === '') return DEFAULT_LIMIT
  if (!/^\d+$/.test(raw)) return null
  const n = Number(raw)
  return n >= 1 && n <= MAX_LIMIT ? n : null
}
