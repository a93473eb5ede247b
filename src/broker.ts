// createSwallow(config): storage + Aedes + plugins + listeners, and close().
import { Aedes } from 'aedes'
import type { Config } from './config.js'
import { createConnectPolicy } from './connect-policy.js'
import { createConnectionHandler } from './connection.js'
import { Hooks } from './hooks.js'
import { HttpRoutes } from './listeners/http.js'
import { openListeners } from './listeners/index.js'
import type { Listener } from './listeners/listen.js'
import { loadTlsOptions, tlsReloader, tlsSettings } from './tls-files.js'
import { logReload, type ReloadPart } from './reload-summary.js'
import type { Logger } from './logger.js'
import { createMetrics, sharedGroupGauges } from './metrics.js'
import { observeBroker } from './observe.js'
import type { Plugin, PluginContext, PluginHandle } from './plugin.js'
import { openStorage, type StorageHandles } from './storage.js'
import { addCoreRoutes } from './routes.js'
import { dollarTopicsNeedExplicitFilter } from './topics.js'
import { isReservedTopic } from './session-marker.js'
import { Traffic } from './traffic.js'
import { VERSION } from './version.js'
import { checkAedesSeam, registeredClients } from './aedes-seam.js'
import { Connection } from './protocol/connection.js'
import { SysListeners } from './protocol/sys-listeners.js'
import { createCore, createRoute } from './protocol/core.js'
import type { SharedGroupFigures } from './protocol/shared-members.js'
import { sweepExpiredSessions } from './protocol/session.js'
import { ReasonCode } from './protocol/reason-codes.js'

export interface Swallow {
  broker: Aedes
  storage: StorageHandles
  listeners: Listener[]
  /**
   * SIGHUP: re-read the TLS certificates and the plugins' files without dropping connections;
   * logs one line saying what each did. Resolves when that line is written.
   */
  reload: (trigger: string) => Promise<void>
  /** Stop accepting, let in-flight acknowledgements finish (bounded), close plugins and storage. */
  close: () => Promise<void>
}

export async function createSwallow (config: Config, plugins: readonly Plugin[], log: Logger): Promise<Swallow> {
  // Certificates first: a bad file is a config error, before anything is opened.
  const tls = tlsSettings(config)
  const tlsOptions = tls ? loadTlsOptions(tls) : null
  const metrics = createMetrics()
  const storage = await openStorage(config, log.child({ module: 'storage' }), metrics)
  const handles: PluginHandle[] = []
  const listeners: Listener[] = []
  let broker: Aedes | null = null
  try {
    broker = new Aedes({
      id: storage.nodeId,
      persistence: storage.persistence,
      ...(storage.mq ? { mq: storage.mq } : {}),
      connectTimeout: config.connectTimeout,
      maxClientsIdLength: config.maxClientIdLength,
      heartbeatInterval: config.heartbeatInterval
    })
    const aedes = broker
    checkAedesSeam(aedes)
    // Storage errors inside Aedes surface here; without a listener they would crash the process.
    const emitter: NodeJS.EventEmitter = aedes
    emitter.on('error', (err: Error) => log.error({ err }, 'broker error'))
    await aedes.listen()

    const hooks = new Hooks()
    const policy = createConnectPolicy({
      maxClientIdLength: config.maxClientIdLength,
      maxConnections: config.maxConnections,
      connectedClients: () => aedes.connectedClients
    })
    hooks.add('preConnect', policy.preConnect)
    hooks.add('authenticate', policy.authenticate)
    hooks.add('authorizePublish', refuseSysPublish)
    hooks.add('authorizeForward', dollarTopicsNeedExplicitFilter)

    const routes = new HttpRoutes()
    const route = createRoute(aedes, storage.persistence)
    const publish: PluginContext['publish'] = (message, client, done) => route.publish(message, client, done)
    const sysListeners = new SysListeners()
    // Plugins may trigger a reload (the admin API) once the broker runs; it is defined below.
    let reloadParts: ((trigger: string) => Promise<ReloadPart[]>) | null = null
    const reloadForPlugins = async (trigger: string): Promise<ReloadPart[]> => {
      if (reloadParts === null) throw new Error('reload before the broker started')
      return await reloadParts(trigger)
    }
    // The shared groups are made after the plugins (the core needs their hooks): none before.
    let sharedFigures: () => SharedGroupFigures[] = () => []
    const sharedGroups = (): SharedGroupFigures[] => sharedFigures()
    for (const plugin of plugins) {
      const handle = await plugin.setup({
        config, broker: aedes, hooks, http: routes, metrics: metrics.registry, storage, publish, sysListened: () => sysListeners.any, log: log.child({ plugin: plugin.name }), reload: reloadForPlugins, sharedGroups
      })
      if (handle) handles.push(handle)
    }

    hooks.install(aedes)
    observeBroker(aedes, metrics, log.child({ module: 'clients' }), { limit: config.logRepeatLimit, windowMs: config.logRepeatWindow })

    const core = createCore({
      broker: aedes,
      config,
      persistence: storage.persistence,
      storedSessions: storage.storedSessions,
      metrics,
      log: log.child({ module: 'protocol' }),
      isDropped: packet => hooks.isDropped(packet),
      authMethod: name => hooks.authMethod(name),
      route,
      sysListeners,
      cluster: storage.mq !== null && storage.sharedRedis !== null ? { redis: storage.sharedRedis, nodeId: storage.nodeId, emitter: storage.mq } : null
    })
    // Before the listeners open: a message published before the first member is back waits for it.
    await core.shared.restore()
    sharedGroupGauges(metrics.registry, () => core.shared.figures())
    sharedFigures = () => core.shared.figures()
    const stopSweeps = sweepExpiredSessions(core, config.storage === 'redis' ? config.sessionSweepInterval : null)
    const traffic = new Traffic()
    const onConnection = createConnectionHandler(core, traffic)
    addCoreRoutes(routes, { config, broker: aedes, storage, metrics, traffic, listeners, startedAt: Date.now(), version: VERSION })

    for (const handle of handles) handle.start?.()
    const secureServers = await openListeners(config, tlsOptions, onConnection, routes, listeners, log)

    const reloadTls = tls && tlsOptions ? tlsReloader(tls, tlsOptions, secureServers) : null
    const reloadLog = log.child({ module: 'reload' })
    reloadParts = async (trigger: string): Promise<ReloadPart[]> => {
      const parts: ReloadPart[] = reloadTls ? [reloadTls()] : []
      for (const handle of handles) if (handle.reload) parts.push(...await handle.reload())
      logReload(reloadLog, trigger, parts)
      return parts
    }
    const reload = async (trigger: string): Promise<void> => {
      try {
        await reloadForPlugins(trigger)
      } catch (err) {
        reloadLog.error({ err, trigger }, 'reload failed')
      }
    }

    let closing: Promise<void> | null = null
    return {
      broker: aedes,
      storage,
      listeners,
      reload,
      close: () => {
        stopSweeps()
        return (closing ??= shutdown(aedes, config.shutdownTimeout, ms => core.shared.close(ms)))
      }
    }
  } catch (err) {
    await shutdown(broker, 0).catch(() => {})
    throw err
  }

  /** `afterClients`: once the connections are closed (the shared groups' last writes to Redis). */
  async function shutdown (aedes: Aedes | null, timeoutMs: number, afterClients?: (ms: number) => Promise<void>): Promise<void> {
    const stopped = listeners.map(l => l.close())
    if (aedes) {
      // Read no new packets; let the ones being stored finish and get their acknowledgement.
      // Wills stay stored, unpublished: closing a client would publish its will (to clients
      // that are being closed too) and delete it. Kept, it is published by the restarted
      // broker's will sweep if the device does not come back (src/config.ts heartbeatInterval).
      const connections = registeredClients(aedes).filter((c): c is Connection => c instanceof Connection)
      for (const conn of connections) {
        conn.pause()
        conn.will = null
      }
      const deadline = Date.now() + timeoutMs
      const drained = Promise.all(handles.map(h => h.drain?.()))
      const timedOut = await Promise.race([drained.then(() => false), new Promise<boolean>(resolve => setTimeout(resolve, timeoutMs, true).unref())])
      // timeoutMs 0: a start that failed half-way; nothing was acknowledged yet, nothing to report.
      if (timedOut && timeoutMs > 0) log.warn({ timeoutMs }, 'shutdown: gave up waiting for plugins to drain (--shutdown-timeout)')
      if (!await storage.quiesce(Math.max(0, deadline - Date.now())) && timeoutMs > 0) {
        log.warn({ pending: storage.pendingOperations(), timeoutMs }, 'shutdown: gave up waiting for in-flight storage operations (--shutdown-timeout)')
      }
      // MQTT 5 clients are told why (DISCONNECT 0x8B). Ending a session stores what it leaves
      // (an expiry deadline, the deletion of a session that ends now): wait for that too.
      for (const conn of connections) conn.disconnect(ReasonCode.serverShuttingDown)
      await storage.quiesce(Math.max(1000, deadline - Date.now()))
      await afterClients?.(Math.max(1000, deadline - Date.now()))
      await new Promise<void>(resolve => aedes.close(() => resolve()))
    }
    for (const handle of handles.reverse()) await handle.close()
    await Promise.all(stopped)
    await storage.close()
  }
}

// Clients never publish into $SYS (the broker's own topics); Aedes's default hook did the same.
// $swallow/ holds the broker's session markers (src/session-marker.ts): nothing is published there.
function refuseSysPublish (client: unknown, packet: { topic: string }, done: (err?: Error | null) => void): void {
  if (client !== null && packet.topic.startsWith('$SYS/')) return done(new Error('$SYS/ topics are reserved for the broker'))
  if (isReservedTopic(packet.topic)) return done(new Error('$swallow/ topics are reserved for the broker'))
  done(null)
}
