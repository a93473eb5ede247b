// The fleet API's answers: JSON errors { error: <code>, message: <what is wrong, how to fix
// it> }, request bodies read as JSON (bounded), pages, and the audit line each change logs.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { requestActor } from '../../src/listeners/admin-guard.js'
import { sendJson } from '../../src/listeners/http.js'
import type { Logger } from '../../src/logger.js'

export { sendJson }

/** A problem the caller caused: answered with its status, changes nothing. */
export class ApiError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

export function sendError (res: ServerResponse, err: ApiError): void {
  sendJson(res, err.status, { error: err.code, message: err.message })
}

/** Wraps a handler: an ApiError becomes its JSON answer; anything else is a bug (500, logged by the listener). */
export function handled (fn: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> {
  return async (req, res, url) => {
    try {
      await fn(req, res, url)
    } catch (err) {
      if (err instanceof ApiError) return sendError(res, err)
      throw err
    }
  }
}

const MAX_BODY = 1024 * 1024

/** The request body as a JSON object; 400 for anything else, 413 past 1 MiB. */
export async function readJsonObject (req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY) throw new ApiError(413, 'body_too_large', `request body larger than ${MAX_BODY} bytes`)
    chunks.push(chunk as Buffer)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new ApiError(400, 'bad_json', `request body is not JSON: ${(err as Error).message}`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ApiError(400, 'bad_json', 'request body must be a JSON object')
  return parsed as Record<string, unknown>
}

export interface PageRequest { page: number, limit: number }
export interface Page<T> { items: T[], page: number, limit: number, total: number, pages: number }

const DEFAULT_LIMIT = 100
const MAX_LIMIT = 1000

/** ?page=N (from 1) and ?limit=N (1..1000, default 100). */
export function pageRequest (url: URL): PageRequest {
  return { page: positiveInt(url, 'page', 1, Number.MAX_SAFE_INTEGER), limit: positiveInt(url, 'limit', DEFAULT_LIMIT, MAX_LIMIT) }
}

function positiveInt (url: URL, name: string, fallback: number, max: number): number {
  const raw = url.searchParams.get(name)
  if (raw === null || raw === '') return fallback
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new ApiError(400, `bad_${name}`, `${name}: expected an integer from 1 to ${max}, got ${JSON.stringify(raw)}`)
  return n
}

/** One page of an already filtered and sorted list; a page past the last one is a 400 (page 1 of nothing is empty). */
export function pageOf<T> (all: readonly T[], { page, limit }: PageRequest): Page<T> {
  const pages = Math.max(1, Math.ceil(all.length / limit))
  if (page > pages) throw new ApiError(400, 'page_out_of_range', `page ${page}: there are ${pages} page(s) of ${limit} (${all.length} items)`)
  return { items: all.slice((page - 1) * limit, page * limit), page, limit, total: all.length, pages }
}

/** Every change is logged at info: who (which token), what, and its outcome. */
export function audit (log: Logger, req: IncomingMessage, action: string, fields: Record<string, unknown>): void {
  log.info({ actor: requestActor(req), action, ...fields }, `admin API: ${action} by ${requestActor(req)}`)
}

/** The path segment after `prefix`, URL-decoded; 400 when it does not decode. */
export function pathParam (url: URL, prefix: string): string {
  const raw = url.pathname.slice(prefix.length)
  try {
    return decodeURIComponent(raw)
  } catch {
    throw new ApiError(400, 'bad_path', `${JSON.stringify(raw)} is not a valid URL-encoded name`)
  }
}
