// Opens every configured listener, in a fixed order, into `listeners` (so that a failure
// half way leaves the opened ones there to be closed).
import type { TlsOptions } from 'node:tls'
import type { Config } from '../config.js'
import type { ConnectionHandler } from '../connection.js'
import type { Logger } from '../logger.js'
import type { SecureServer } from '../tls-files.js'
import { isLoopbackHost } from './admin-guard.js'
import { listenHttp, type HttpRoutes } from './http.js'
import type { Listener } from './listen.js'
import { listenTcp } from './tcp.js'
import { listenTls } from './tls.js'
import { listenWs } from './ws.js'

/** Returns the TLS servers, for certificate reloads. */
export async function openListeners (config: Config, tls: TlsOptions | null, onConnection: ConnectionHandler, routes: HttpRoutes,
  listeners: Listener[], log: Logger): Promise<SecureServer[]> {
  const secure: SecureServer[] = []
  const ws = { host: config.host, path: config.wsPath, origins: config.wsOrigins, maxPacketSize: config.maxPacketSize }
  if (config.mqttPort !== null) listeners.push(await listenTcp(config.host, config.mqttPort, onConnection))
  if (tls && config.mqttsPort !== null) {
    const l = await listenTls(config.host, config.mqttsPort, tls, onConnection, log.child({ module: 'tls' }))
    listeners.push(l)
    secure.push(l.server)
  }
  if (config.wsPort !== null) listeners.push(await listenWs({ ...ws, port: config.wsPort }, onConnection, log.child({ module: 'ws' })))
  if (tls && config.wssPort !== null) {
    const l = await listenWs({ ...ws, port: config.wssPort, tls }, onConnection, log.child({ module: 'wss' }))
    listeners.push(l)
    if (l.server) secure.push(l.server)
  }
  if (config.httpPort !== null) {
    const admin = { token: config.adminToken, readToken: config.adminReadToken, loopbackOnly: isLoopbackHost(config.host) }
    listeners.push(await listenHttp(config.host, config.httpPort, routes, admin, log.child({ module: 'http' })))
  }
  return secure
}
