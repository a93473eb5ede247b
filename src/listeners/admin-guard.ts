// Access to /api/...: with --admin-token, every request needs "Authorization: Bearer <token>";
// without one, /api answers only when the HTTP listener is loopback-only. Routes a plugin
// registers as public (the browser client's own config) are exempt.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'

export interface AdminAccess {
  token: string | null
  loopbackOnly: boolean
}

export type Guard = (req: IncomingMessage, res: ServerResponse) => boolean

export function adminGuard ({ token, loopbackOnly }: AdminAccess, send: (res: ServerResponse, status: number, body: unknown) => void): Guard {
  if (token === null) {
    return (_req, res) => {
      if (loopbackOnly) return true
      send(res, 403, { error: 'the /api routes are off: the HTTP listener accepts remote connections and no --admin-token is set' })
      return false
    }
  }
  const expected = digest(token)
  return (req, res) => {
    const header = req.headers.authorization ?? ''
    const given = header.startsWith('Bearer ') ? header.slice(7).trim() : ''
    // Compare digests: equal lengths for timingSafeEqual, and no early exit on the first byte.
    if (given !== '' && timingSafeEqual(digest(given), expected)) return true
    res.setHeader('www-authenticate', 'Bearer realm="swallow"')
    send(res, 401, { error: given === '' ? 'missing bearer token: send "Authorization: Bearer <--admin-token>"' : 'wrong bearer token' })
    return false
  }
}

function digest (text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

export function isLoopbackHost (host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost'
}
