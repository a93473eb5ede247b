// GET    /api/bans                       the bans in force
// POST   /api/bans {kind, value, expiresIn?|expiresAt?, reason?}   adds one and closes the clients it matches
// DELETE /api/bans/{kind}/{value}        removes one
// kind: clientId, username or address. A banned client gets CONNACK 0x8A (MQTT 5) / 0x05 (3.1.1).
import type { HttpRoutes } from '../../src/listeners/http.js'
import { requestActor } from '../../src/listeners/admin-guard.js'
import type { ApiParts } from './clients-api.js'
import { BAN_KINDS, type Ban, type BanKind, type BanList } from './bans.js'
import { ApiError, audit, handled, pathParam, readJsonObject, sendJson } from './respond.js'

export function registerBansApi (routes: HttpRoutes, bans: BanList, { fleet, presence, log }: ApiParts): void {
  routes.add('GET', '/api/bans', handled(async (_req, res) => {
    sendJson(res, 200, { items: bans.list().map(describeBan) })
  }))

  routes.add('POST', '/api/bans', handled(async (req, res) => {
    const ban = parseBan(await readJsonObject(req), requestActor(req))
    try {
      await bans.add(ban)
    } catch (err) {
      throw new ApiError(503, 'storage_unavailable', `the ban could not be stored: ${(err as Error).message}; nothing changed, try again`)
    }
    const selector = ban.kind === 'clientId' ? { clientId: ban.value } : ban.kind === 'username' ? { username: ban.value } : { address: ban.value }
    const kicked = await fleet.kick(selector, false)
    // The other nodes reload the bans now: a client that reconnected there meanwhile is closed then.
    await bans.announce()
    audit(log, req, 'ban', { kind: ban.kind, value: ban.value, expiresAt: ban.expiresAt, kicked })
    presence.emit({ type: 'banned', ...describeBan(ban), kicked })
    sendJson(res, 201, { ...describeBan(ban), kicked })
  }))

  routes.add('DELETE', '/api/bans/*', handled(async (req, res, url) => {
    const rest = pathParam(url, '/api/bans/')
    const slash = rest.indexOf('/')
    const kind = slash === -1 ? rest : rest.slice(0, slash)
    const value = slash === -1 ? '' : rest.slice(slash + 1)
    if (!isKind(kind) || value === '') throw new ApiError(400, 'bad_ban', `expected /api/bans/{${BAN_KINDS.join('|')}}/{value}, got ${JSON.stringify(rest)}`)
    let removed: boolean
    try {
      removed = await bans.remove(kind, value)
    } catch (err) {
      throw new ApiError(503, 'storage_unavailable', `the ban could not be removed: ${(err as Error).message}; try again`)
    }
    if (!removed) throw new ApiError(404, 'unknown_ban', `no ${kind} ban on ${JSON.stringify(value)}`)
    await bans.announce()
    audit(log, req, 'unban', { kind, value })
    presence.emit({ type: 'unbanned', kind, value, at: new Date().toISOString() })
    sendJson(res, 200, { removed: { kind, value } })
  }))
}

const isKind = (k: unknown): k is BanKind => typeof k === 'string' && (BAN_KINDS as readonly string[]).includes(k)

function parseBan (body: Record<string, unknown>, by: string): Ban {
  const { kind, value, reason, expiresIn, expiresAt } = body
  if (!isKind(kind)) throw new ApiError(400, 'bad_ban', `kind: expected one of ${BAN_KINDS.join(', ')}, got ${JSON.stringify(kind)}`)
  if (typeof value !== 'string' || value === '') throw new ApiError(400, 'bad_ban', 'value: expected a non-empty string (the client id, user name or address)')
  if (reason !== undefined && typeof reason !== 'string') throw new ApiError(400, 'bad_ban', 'reason: expected a string')
  const now = Date.now()
  let deadline: number | null = null
  if (expiresIn !== undefined && expiresAt !== undefined) throw new ApiError(400, 'bad_ban', 'pass expiresIn (seconds) or expiresAt (ISO time), not both')
  if (expiresIn !== undefined) {
    if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0) throw new ApiError(400, 'bad_ban', 'expiresIn: expected a positive number of seconds')
    deadline = now + Math.round(expiresIn * 1000)
  } else if (expiresAt !== undefined) {
    const t = typeof expiresAt === 'string' ? Date.parse(expiresAt) : NaN
    if (!Number.isFinite(t) || t <= now) throw new ApiError(400, 'bad_ban', `expiresAt: expected a future ISO 8601 time, got ${JSON.stringify(expiresAt)}`)
    deadline = t
  }
  return { kind, value, reason: typeof reason === 'string' ? reason : null, createdAt: now, expiresAt: deadline, by }
}

export function describeBan (b: Ban): Record<string, unknown> {
  return { ...b, createdAt: new Date(b.createdAt).toISOString(), expiresAt: b.expiresAt === null ? null : new Date(b.expiresAt).toISOString() }
}
