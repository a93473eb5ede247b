// Access to /api/...: with --admin-token, every request needs "Authorization: Bearer <token>";
// with --admin-read-token too, that token may read (GET, HEAD) and change nothing. Without
// any token, /api answers only when the HTTP listener is loopback-only. Routes a plugin
// registers as public (the browser client's own config) are exempt. Errors are
// { error: <code>, message: <what to do> }.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'

export interface AdminAccess {
  token: string | null
  /** May GET/HEAD only. */
  readToken?: string | null
  loopbackOnly: boolean
}

export type Guard = (req: IncomingMessage, res: ServerResponse) => boolean

/** Who made an allowed request: "admin-token", "read-token" or "loopback" (for the audit log lines). */
export function requestActor (req: IncomingMessage): string {
  return actors.get(req) ?? 'unknown'
}

const actors = new WeakMap<IncomingMessage, string>()

export function adminGuard ({ token, readToken = null, loopbackOnly }: AdminAccess, send: (res: ServerResponse, status: number, body: unknown) => void): Guard {
  if (token === null && readToken === null) {
    return (req, res) => {
      if (loopbackOnly) {
        actors.set(req, 'loopback')
        return true
      }
      send(res, 403, { error: 'api_off', message: 'the /api routes are off: the HTTP listener accepts remote connections and no --admin-token is set' })
      return false
    }
  }
  const full = token === null ? null : digest(token)
  const read = readToken === null ? null : digest(readToken)
  return (req, res) => {
    const header = req.headers.authorization ?? ''
    const given = header.startsWith('Bearer ') ? header.slice(7).trim() : ''
    // Compare digests: equal lengths for timingSafeEqual, and no early exit on the first byte.
    const givenDigest = given === '' ? null : digest(given)
    if (givenDigest !== null && full !== null && timingSafeEqual(givenDigest, full)) {
      actors.set(req, 'admin-token')
      return true
    }
    if (givenDigest !== null && read !== null && timingSafeEqual(givenDigest, read)) {
      if (req.method === 'GET' || req.method === 'HEAD') {
        actors.set(req, 'read-token')
        return true
      }
      send(res, 403, { error: 'read_only_token', message: `the --admin-read-token may only read (GET); ${req.method ?? ''} needs the --admin-token` })
      return false
    }
    res.setHeader('www-authenticate', 'Bearer realm="swallow"')
    send(res, 401, { error: 'unauthorized', message: given === '' ? 'missing bearer token: send "Authorization: Bearer <--admin-token>"' : 'wrong bearer token' })
    return false
  }
}

function digest (text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

export function isLoopbackHost (host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost'
}
