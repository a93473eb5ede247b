// HTTP: /healthz, /metrics, and routes that plugins register under /api/<plugin>/...
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Logger } from '../logger.js'
import { adminGuard, type AdminAccess } from './admin-guard.js'
import { bind, closeServer, urlHost, type Listener } from './listen.js'

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>

interface Route { method: string, path: string, prefix: boolean, handler: RouteHandler, public: boolean }

export interface RouteOptions {
  /** Serve a route under /api/ without the admin guard (e.g. the browser client's config). */
  public?: boolean
}

/** The route table. Plugins add to it in setup(); the server is started afterwards. */
export class HttpRoutes {
  private readonly routes: Route[] = []

  /** `path` is exact, or a prefix when it ends with "/*". */
  add (method: string, path: string, handler: RouteHandler, opts: RouteOptions = {}): void {
    const prefix = path.endsWith('/*')
    this.routes.push({ method: method.toUpperCase(), path: prefix ? path.slice(0, -1) : path, prefix, handler, public: opts.public === true })
  }

  find (method: string, pathname: string): Route | 'method-not-allowed' | undefined {
    const matches = this.routes.filter(r => r.prefix ? pathname.startsWith(r.path) : pathname === r.path)
    if (matches.length === 0) return undefined
    return matches.find(r => r.method === method || (method === 'HEAD' && r.method === 'GET')) ?? 'method-not-allowed'
  }
}

export function sendJson (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n'
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

export async function listenHttp (host: string, port: number, routes: HttpRoutes, admin: AdminAccess, log: Logger): Promise<Listener> {
  const allowed = adminGuard(admin, sendJson)
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const route = routes.find(req.method ?? 'GET', url.pathname)
    if (route === undefined) return sendJson(res, 404, { error: 'no_route', message: `no route ${url.pathname}` })
    if (route === 'method-not-allowed') return sendJson(res, 405, { error: 'method_not_allowed', message: `${req.method} not allowed on ${url.pathname}` })
    if (url.pathname.startsWith('/api/') && !route.public && !allowed(req, res)) return
    Promise.resolve()
      .then(() => route.handler(req, res, url))
      .catch(err => {
        log.error({ err, path: url.pathname }, 'HTTP handler failed')
        if (!res.headersSent) sendJson(res, 500, { error: 'internal_error', message: 'internal error (logged by the broker)' })
        else res.destroy()
      })
  })
  const bound = await bind(server, host, port, '--http-port')
  return {
    name: 'http',
    url: `http://${urlHost(host)}:${bound}`,
    host,
    port: bound,
    async close () {
      const closed = closeServer(server)
      server.closeAllConnections()
      await closed
    }
  }
}
