// GET    /api/sessions?prefix=&page=&limit=   stored persistent sessions whose client is offline
// GET    /api/sessions/{id}
// DELETE /api/sessions/{id}                   deletes an offline session (409 while connected)
import type { HttpRoutes } from '../../src/listeners/http.js'
import { describeOffline, type ApiParts } from './clients-api.js'
import { ApiError, audit, handled, pageOf, pageRequest, pathParam, sendJson } from './respond.js'

export function registerSessionsApi (routes: HttpRoutes, { fleet, sessions, presence, log }: ApiParts): void {
  const offlineIds = async (prefix: string): Promise<string[]> => {
    const connected = new Set((await fleet.clients()).map(c => c.clientId))
    return (await sessions.ids()).filter(id => id.startsWith(prefix) && !connected.has(id))
  }

  routes.add('GET', '/api/sessions', handled(async (_req, res, url) => {
    const paging = pageRequest(url)
    const page = pageOf(await offlineIds(url.searchParams.get('prefix') ?? ''), paging)
    const items = await Promise.all(page.items.map(async id => describeOffline(await sessions.get(id), id)))
    sendJson(res, 200, { ...page, items })
  }))

  routes.add('GET', '/api/sessions/*', handled(async (_req, res, url) => {
    const id = pathParam(url, '/api/sessions/')
    const found = await sessions.get(id)
    if (found === null) throw new ApiError(404, 'unknown_session', `no stored session for client id ${JSON.stringify(id)}`)
    const live = await fleet.client(id)
    sendJson(res, 200, { ...describeOffline(found, id), connected: live !== null, ...(live !== null ? { expiresAt: null, disconnectedAt: null, offlineSeconds: null, node: live.node } : {}) })
  }))

  routes.add('DELETE', '/api/sessions/*', handled(async (req, res, url) => {
    const id = pathParam(url, '/api/sessions/')
    if (await fleet.client(id) !== null) {
      throw new ApiError(409, 'client_connected', `client ${JSON.stringify(id)} is connected: DELETE /api/clients/${encodeURIComponent(id)}?session=true disconnects it and deletes its session`)
    }
    if (await sessions.get(id) === null) throw new ApiError(404, 'unknown_session', `no stored session for client id ${JSON.stringify(id)}`)
    await sessions.delete(id)
    audit(log, req, 'delete session', { clientId: id })
    presence.emit({ type: 'session-deleted', clientId: id, at: new Date().toISOString() })
    sendJson(res, 200, { deleted: id })
  }))
}
