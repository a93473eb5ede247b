// MQTT over WebSocket (ws v8 + createWebSocketStream), at --ws-path, negotiating the mqtt subprotocol.
import { createServer as createHttpServer, type IncomingMessage, type RequestListener } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { TlsOptions } from 'node:tls'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { ConnectionHandler } from '../connection.js'
import type { Logger } from '../logger.js'
import type { SecureServer } from '../tls-files.js'
import { bind, closeServer, urlHost, type Listener } from './listen.js'

export interface WsOptions {
  host: string
  port: number
  path: string
  /** Allowed Origin headers; empty allows any (non-browser clients send none). */
  origins: string[]
  maxPacketSize: number
  /** Serve wss:// with these certificates instead of ws://. */
  tls?: TlsOptions
}

// MQTT 3.1.1 says "mqtt"; MQTT 3.1 clients (and some old libraries) say "mqttv3.1".
const SUBPROTOCOLS = ['mqtt', 'mqttv3.1']

export async function listenWs (opts: WsOptions, onConnection: ConnectionHandler, log: Logger): Promise<Listener & { server: SecureServer | null }> {
  const upgradeRequired: RequestListener = (_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' })
    res.end(`MQTT over WebSocket: connect with a WebSocket client to ${opts.path}\n`)
  }
  const server = opts.tls ? createHttpsServer(opts.tls, upgradeRequired) : createHttpServer(upgradeRequired)
  const secure = opts.tls !== undefined
  const wss = new WebSocketServer({
    server,
    path: opts.path,
    // A WebSocket message carries at least one MQTT packet; allow some framing slack.
    maxPayload: opts.maxPacketSize + 16,
    handleProtocols: (offered: Set<string>) => SUBPROTOCOLS.find(p => offered.has(p)) ?? false,
    verifyClient: opts.origins.length === 0
      ? undefined
      : (info: { origin: string, req: IncomingMessage }) => {
          const allowed = opts.origins.includes(info.origin)
          if (!allowed) log.warn({ origin: info.origin, remote: info.req.socket.remoteAddress }, 'WebSocket origin refused (not in --ws-origins)')
          return allowed
        }
  })
  wss.on('connection', (socket, req) => {
    const stream = createWebSocketStream(socket)
    onConnection(stream, req.socket, req, secure ? 'wss' : 'ws')
  })
  // ws re-emits the HTTP server's errors; a bind error is bind()'s one line, not a logged stack.
  const duringBind = (): void => {}
  wss.on('error', duringBind)
  if (secure) server.on('tlsClientError', (err, socket) => log.info({ remote: socket.remoteAddress, error: err.message }, 'TLS handshake failed'))
  const bound = await bind(server, opts.host, opts.port, secure ? '--wss-port' : '--ws-port')
  wss.off('error', duringBind)
  wss.on('error', err => log.error({ err }, 'WebSocket server error'))
  return {
    name: secure ? 'wss' : 'ws',
    url: `${secure ? 'wss' : 'ws'}://${urlHost(opts.host)}:${bound}${opts.path}`,
    server: secure ? server as SecureServer : null,
    host: opts.host,
    port: bound,
    async close () {
      wss.close()
      await closeServer(server)
    }
  }
}
