// Serves the built browser client from one directory on disk: index.html (revalidated on
// every load) and content-hashed assets (cached for a year). Precompressed .gz siblings,
// written by build.js, are sent to browsers that accept gzip.
import { createHash } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, join } from 'node:path'

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8'
}

/** The page talks only to its own origin and to MQTT over WebSocket on another port. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
  "connect-src 'self' ws: wss:",
  // MQTT.js runs its keepalive timers in a worker made from a blob, so background tabs keep them.
  "worker-src 'self' blob:", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"
].join('; ')

/** A flat asset name: letters, digits, dot, dash, underscore; no leading dot, no path. */
const SAFE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/

export type Caching = 'revalidate' | 'immutable'

export interface StaticFile {
  /** Absolute path of the uncompressed file. */
  path: string
  caching: Caching
}

/** Maps `/assets/<name>` to a file under `<root>/assets`, or null for names that are not plain file names. */
export function assetFile (root: string, name: string): StaticFile | null {
  if (!SAFE_NAME.test(name) || name.includes('..')) return null
  return { path: join(root, 'assets', name), caching: 'immutable' }
}

export function contentType (path: string): string {
  return CONTENT_TYPES[extname(path)] ?? 'application/octet-stream'
}

/**
 * Sends `file` with its content type and caching headers, honouring If-None-Match and
 * HEAD. Resolves false (and sends nothing) when the file does not exist.
 */
export async function sendFile (req: IncomingMessage, res: ServerResponse, file: StaticFile): Promise<boolean> {
  const info = await stat(file.path).catch(() => null)
  if (info === null || !info.isFile()) return false
  const etag = `"${createHash('sha1').update(`${info.size}:${info.mtimeMs}:${file.path}`).digest('base64url').slice(0, 16)}"`
  const headers: Record<string, string | number> = {
    'content-type': contentType(file.path),
    'cache-control': file.caching === 'immutable' ? 'public, max-age=31536000, immutable' : 'no-cache',
    etag,
    vary: 'Accept-Encoding',
    'x-content-type-options': 'nosniff'
  }
  if (extname(file.path) === '.html') {
    headers['content-security-policy'] = CONTENT_SECURITY_POLICY
    headers['referrer-policy'] = 'no-referrer'
  }
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers)
    res.end()
    return true
  }
  const gzip = acceptsGzip(req) ? await readFile(file.path + '.gz').catch(() => null) : null
  const body = gzip ?? await readFile(file.path)
  if (gzip !== null) headers['content-encoding'] = 'gzip'
  headers['content-length'] = body.length
  res.writeHead(200, headers)
  res.end(req.method === 'HEAD' ? undefined : body)
  return true
}

function acceptsGzip (req: IncomingMessage): boolean {
  const accept = req.headers['accept-encoding']
  return typeof accept === 'string' && /\bgzip\b/.test(accept)
}
