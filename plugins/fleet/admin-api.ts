// POST /api/reload        what SIGHUP does; answers each part's outcome and the log line
// GET  /api/events        Server-Sent Events: presence (every node) and admin actions (this node)
// GET  /api/nodes         the cluster's nodes (this one first) with their connected clients
// GET  /api/openapi.json  the fleet API described (OpenAPI 3.1)
import type { HttpRoutes } from '../../src/listeners/http.js'
import { reloadLine, type ReloadPart } from '../../src/reload-summary.js'
import type { ApiParts } from './clients-api.js'
import { OPENAPI } from './openapi.js'
import { audit, handled, sendJson } from './respond.js'

export function registerAdminApi (routes: HttpRoutes, reload: (trigger: string) => Promise<ReloadPart[]>, { fleet, presence, log }: ApiParts): void {
  routes.add('POST', '/api/reload', handled(async (req, res) => {
    const parts = await reload('admin API')
    const failed = parts.filter(p => p.outcome === 'failed')
    audit(log, req, 'reload', { outcomes: Object.fromEntries(parts.map(p => [p.name, p.outcome])) })
    presence.emit({ type: 'reloaded', parts, at: new Date().toISOString() })
    // 200 even when a part failed: the reload ran, and the previous contents stay in force.
    sendJson(res, 200, { summary: reloadLine('admin API', parts), ok: failed.length === 0, parts })
  }))

  routes.add('GET', '/api/events', async (req, res) => presence.serve(req, res))

  routes.add('GET', '/api/nodes', handled(async (_req, res) => {
    const [nodes, clients] = await Promise.all([fleet.nodes(), fleet.clients()])
    const perNode = new Map<string, number>()
    for (const c of clients) perNode.set(c.node, (perNode.get(c.node) ?? 0) + 1)
    sendJson(res, 200, { items: nodes.map((id, i) => ({ id, self: i === 0, clients: perNode.get(id) ?? 0 })) })
  }))

  routes.add('GET', '/api/openapi.json', async (_req, res) => sendJson(res, 200, OPENAPI))
}
