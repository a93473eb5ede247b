// GET    /api/clients?prefix=&username=&address=&protocol=&node=&state=&page=&limit=
// GET    /api/clients/{id}                  one client: its subscriptions, will, queue
// DELETE /api/clients/{id}[?session=true]   disconnect it (MQTT 5: DISCONNECT 0x98), session too
// DELETE /api/clients?username=|prefix=|address=   the same for every match: { kicked: n }
// state: connected (default), offline (stored persistent sessions) or all.
import type { HttpRoutes } from '../../src/listeners/http.js'
import type { Logger } from '../../src/logger.js'
import type { ClientSummary, Fleet, KickSelector } from './fleet-view.js'
import { plainAddress } from './fleet-view.js'
import type { Presence } from './presence.js'
import { ApiError, audit, handled, pageOf, pageRequest, pathParam, sendJson } from './respond.js'
import type { Sessions, StoredSession } from './sessions.js'

export interface ApiParts { fleet: Fleet, sessions: Sessions, presence: Presence, log: Logger }

interface OfflineEntry { clientId: string, connected: false }
type Entry = ClientSummary | OfflineEntry

const STATES = ['connected', 'offline', 'all']

export function registerClientsApi (routes: HttpRoutes, { fleet, sessions, presence, log }: ApiParts): void {
  routes.add('GET', '/api/clients', handled(async (_req, res, url) => {
    const q = url.searchParams
    const state = q.get('state') ?? 'connected'
    if (!STATES.includes(state)) throw new ApiError(400, 'bad_state', `state: expected ${STATES.join(', ')}, got ${JSON.stringify(state)}`)
    const protocol = q.get('protocol')
    if (protocol !== null && !['3', '4', '5'].includes(protocol)) throw new ApiError(400, 'bad_protocol', `protocol: expected 3 (MQTT 3.1), 4 (3.1.1) or 5, got ${JSON.stringify(protocol)}`)
    const paging = pageRequest(url)
    const prefix = q.get('prefix') ?? ''
    const username = q.get('username')
    const address = q.get('address')
    const node = q.get('node')
    const live = await fleet.clients()
    const entries: Entry[] = state === 'offline'
      ? []
      : live.filter(c => c.clientId.startsWith(prefix) &&
        (username === null || c.username === username) &&
        (address === null || plainAddress(c.remoteAddress) === plainAddress(address)) &&
        (protocol === null || c.protocolVersion === Number(protocol)) &&
        (node === null || c.node === node))
    // An offline session has no user name, address, protocol or node to filter on.
    if (state !== 'connected' && username === null && address === null && protocol === null && node === null) {
      const connected = new Set(live.map(c => c.clientId))
      for (const id of await sessions.ids()) if (id.startsWith(prefix) && !connected.has(id)) entries.push({ clientId: id, connected: false })
    }
    entries.sort((a, b) => a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0)
    const page = pageOf(entries, paging)
    const items = await Promise.all(page.items.map(async e => e.connected ? describeLive(e) : describeOffline(await sessions.get(e.clientId), e.clientId)))
    sendJson(res, 200, { ...page, items })
  }))

  routes.add('GET', '/api/clients/*', handled(async (_req, res, url) => {
    const id = pathParam(url, '/api/clients/')
    const live = await fleet.client(id)
    if (live !== null) {
      const stored = live.persistent ? await sessions.get(id) : null
      return sendJson(res, 200, { ...describeLive(live), subscriptionList: live.subscriptionList, will: live.will, storedQueue: stored?.queued ?? null, ...oldestQueued(stored) })
    }
    const offline = await sessions.get(id)
    if (offline === null) throw new ApiError(404, 'unknown_client', `no client ${JSON.stringify(id)}: not connected, and no stored session`)
    sendJson(res, 200, describeOffline(offline, id))
  }))

  routes.add('DELETE', '/api/clients/*', handled(async (req, res, url) => {
    const id = pathParam(url, '/api/clients/')
    const endSession = sessionFlag(url)
    const kicked = await fleet.kick({ clientId: id }, endSession)
    if (kicked === 0) throw new ApiError(404, 'unknown_client', `no connected client ${JSON.stringify(id)}${endSession ? ' (an offline session is deleted with DELETE /api/sessions/{id})' : ''}`)
    audit(log, req, 'kick', { clientId: id, session: endSession })
    presence.emit({ type: 'kicked', clientId: id, session: endSession, at: new Date().toISOString() })
    sendJson(res, 200, { kicked, clientId: id, sessionDeleted: endSession })
  }))

  routes.add('DELETE', '/api/clients', handled(async (req, res, url) => {
    const q = url.searchParams
    const selector: KickSelector = {}
    for (const field of ['username', 'prefix', 'address'] as const) {
      const v = q.get(field)
      if (v !== null) selector[field] = v
    }
    if (Object.keys(selector).length === 0) throw new ApiError(400, 'no_selector', 'pass ?username=, ?prefix= or ?address= to choose the clients (DELETE /api/clients/{id} for one)')
    if (selector.prefix === '') throw new ApiError(400, 'no_selector', 'prefix: must not be empty (it would match every client)')
    const endSession = sessionFlag(url)
    const kicked = await fleet.kick(selector, endSession)
    audit(log, req, 'kick', { selector, session: endSession, kicked })
    presence.emit({ type: 'kicked', selector, session: endSession, kicked, at: new Date().toISOString() })
    sendJson(res, 200, { kicked, selector, sessionDeleted: endSession })
  }))
}

function sessionFlag (url: URL): boolean {
  const raw = url.searchParams.get('session')
  if (raw === null || raw === 'false') return false
  if (raw === 'true' || raw === '') return true
  throw new ApiError(400, 'bad_session', `session: expected true or false, got ${JSON.stringify(raw)}`)
}

export function describeLive (c: ClientSummary): Record<string, unknown> {
  return { ...c, connectedAt: new Date(c.connectedAt).toISOString() }
}

export function describeOffline (s: StoredSession | null, id: string): Record<string, unknown> {
  const disconnectedAt = s?.disconnectedAt ?? null
  return {
    clientId: id,
    connected: false,
    expiresAt: s?.expiresAt != null ? new Date(s.expiresAt).toISOString() : null,
    disconnectedAt: iso(disconnectedAt),
    offlineSeconds: secondsSince(disconnectedAt),
    subscriptions: s?.subscriptions.length ?? 0,
    subscriptionList: s?.subscriptions ?? [],
    queued: s?.queued ?? 0,
    ...oldestQueued(s)
  }
}

/** The oldest stored message's time and age (null: none, not stored, or stored before the broker kept the time). */
function oldestQueued (s: StoredSession | null): { oldestQueuedAt: string | null, oldestQueuedSeconds: number | null } {
  const at = s?.oldestQueuedAt ?? null
  return { oldestQueuedAt: iso(at), oldestQueuedSeconds: secondsSince(at) }
}

const iso = (at: number | null): string | null => at === null ? null : new Date(at).toISOString()
const secondsSince = (at: number | null): number | null => at === null ? null : Math.max(0, Math.floor((Date.now() - at) / 1000))
