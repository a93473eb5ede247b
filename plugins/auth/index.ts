// The auth plugin: who may connect (password file, JWT, TLS certificate, anonymous rules,
// brute-force guard) and what each client may publish and read (ACL file, token claims).
// Files reload on SIGHUP and on change; a broken file keeps the previous rules.
import type { Aedes, AuthenticateError, Client, PublishPacket } from 'aedes'
import { Counter } from 'prom-client'
import { asAedesClient, registeredClients } from '../../src/aedes-seam.js'
import { connectionInfo } from '../../src/connection.js'
import { refusal } from '../../src/connect-policy.js'
import { ConfigError } from '../../src/errors.js'
import type { AuthorizeForwardHandler, AuthorizePublishHandler, AuthorizeSubscribeHandler, AuthenticateHandler } from '../../src/hooks.js'
import type { Logger } from '../../src/logger.js'
import type { Plugin, PluginContext, PluginHandle } from '../../src/plugin.js'
import { pluginSettings } from '../../src/plugin.js'
import { parseAclFile, type AclFile } from './acl-file.js'
import { jwtMethod, scramMethod } from './auth-methods.js'
import { BruteForceGuard, guardKey, UsernameGuard } from './brute-force.js'
import { clientTlsSocket } from './cert-identity.js'
import { IdentityResolver, type IdentityResult, type IdentitySource } from './identity.js'
import { JwtVerifier, parseJwtKey, type JwtKey } from './jwt.js'
import { parsePasswordFile, type PasswordFile } from './password-file.js'
import { compilePermissions, type Permissions, type TokenAcl } from './permissions.js'
import { ReloadableFile, watchFiles } from './reload.js'
import { FileProblem } from './file-problem.js'
import { logReload, type ReloadPart } from '../../src/reload-summary.js'
import { SCRAM_METHOD } from './scram.js'
import { authOptions, type AuthSettings } from './settings.js'
import { PasswordVerifier } from './verifier.js'

interface ClientAuth {
  username: string | undefined
  source: IdentitySource
  tokenAcl: TokenAcl | null
  permissions: Permissions
  /** Rules version the permissions were compiled from; recompiled lazily after a reload. */
  version: number
  expiry: NodeJS.Timeout | null
}

/** MQTT 5 CONNACK reason code 0x8A, Banned. */
const LOCKED_OUT = 0x8a

// setTimeout's ceiling; tokens living longer are not expired by a timer.
const MAX_TIMER_MS = 2 ** 31 - 1

export const authPlugin: Plugin = {
  name: 'auth',
  options: authOptions,
  async setup (ctx) {
    const settings = pluginSettings<AuthSettings>(ctx.config, 'auth')
    return await setupAuth(ctx, settings)
  }
}

async function setupAuth (ctx: PluginContext, settings: AuthSettings): Promise<PluginHandle | void> {
  const { broker, hooks, log, metrics } = ctx
  if (settings.jwtSecret !== null && Buffer.byteLength(settings.jwtSecret) < 32) {
    throw new ConfigError('--jwt-secret: an HS256 secret must be at least 32 bytes (256 bits); generate one with "openssl rand -base64 48"')
  }
  const passwordFile = settings.passwordFile === null ? null : new ReloadableFile<PasswordFile>(settings.passwordFile, parsePasswordFile)
  const aclFile = settings.aclFile === null ? null : new ReloadableFile<AclFile>(settings.aclFile, parseAclFile)
  const jwtKeyFile = settings.jwtKey === null ? null : new ReloadableFile<JwtKey>(settings.jwtKey, parseJwtKey)
  const jwtSettings = { secret: settings.jwtSecret, issuer: settings.jwtIssuer, audience: settings.jwtAudience, usernameClaim: settings.jwtUsernameClaim }
  const makeJwt = (): JwtVerifier | null => settings.jwtSecret === null && jwtKeyFile === null ? null : new JwtVerifier(jwtSettings, jwtKeyFile?.value ?? null)
  let jwt = makeJwt()

  const verifier = new PasswordVerifier({
    cacheTtlMs: settings.cacheTtl,
    maxCacheEntries: 100_000,
    // The libuv pool (default 4 threads) is shared with storage and fs: use half of it.
    concurrency: Math.max(1, Math.floor((Number(process.env.UV_THREADPOOL_SIZE) || 4) / 2)),
    maxPending: 10_000
  })
  const identity = new IdentityResolver({
    passwords: () => passwordFile?.value ?? null,
    jwt: () => jwt,
    verifier,
    certIdentity: settings.certIdentity,
    allowAnonymous: settings.allowAnonymous
  })
  if (!identity.sourcesConfigured && aclFile === null) {
    const remote = ctx.config.hostExplicit && !['127.0.0.1', '::1', 'localhost'].includes(ctx.config.host)
    if (remote) log.warn({ host: ctx.config.host }, 'anonymous clients from other machines may connect and use every topic; configure --password-file, --jwt-secret/--jwt-key or --acl-file to restrict them')
    else log.info('no password file, JWT key, certificate identity or ACL file: every client may connect and use every topic')
    return
  }
  if (!identity.sourcesConfigured) {
    log.warn('ACL file without an identity source: usernames are not verified, so every client gets the anonymous (topic) rules and patterns without %u')
  }
  const guard = new BruteForceGuard({ maxFailures: settings.maxFailures, windowMs: settings.failureWindow, lockoutMs: settings.lockout })
  const userGuard = new UsernameGuard({ maxFailures: settings.maxFailuresPerUser, windowMs: settings.failureWindow, lockoutMs: settings.lockout })
  const m = createAuthMetrics(metrics)
  const clients = new WeakMap<Client, ClientAuth>()
  let version = 0

  const permissionsOf = (client: Client): Permissions | null => {
    const state = clients.get(client)
    if (state === undefined) return null
    if (state.version !== version) {
      state.permissions = compilePermissions(aclFile?.value ?? null, { username: state.username, clientId: client.id }, state.tokenAcl)
      state.version = version
    }
    return state.permissions
  }

  const lockedOut = (client: Client, username: string | undefined): AuthenticateError | null => {
    const address = connectionInfo(client).remoteAddress
    const here = guard.enabled && guard.lockedFor(guardKey(address, username)) > 0
    if (!here && !(userGuard.enabled && userGuard.lockedFor(username, address) > 0)) return null
    m.connects.inc({ result: 'locked_out' })
    // MQTT 5: 0x8A (banned) tells the device it is locked out, not that its credentials are wrong.
    return refusal(here
      ? 'too many failed logins for this username from this address; try again later'
      : 'too many failed logins for this username from many addresses; try again later (addresses it logged in from before are not locked out)', 5, LOCKED_OUT)
  }

  const authenticate: AuthenticateHandler = (client, username, password, done) => {
    // An MQTT 5 authentication method (auth-methods.ts) already accepted this connection.
    if (clients.has(client)) return done(null, true)
    const locked = lockedOut(client, username)
    if (locked !== null) return done(locked, false)
    // done() is called outside a catch: a throw inside Aedes must not call it twice.
    identity.resolve(username, password, clientTlsSocket(client), () => !client.closed).then(result => {
      const refused = settle(client, username, result)
      done(refused, refused === null)
    }, err => {
      log.error({ err, clientId: client.id }, 'authentication failed unexpectedly')
      done(refusal('authentication error', 3), false)
    })
  }

  /** The outcome of an identity check: counted, guarded, and on success the client's permissions. */
  const settle = (client: Client, username: string | undefined, result: IdentityResult): AuthenticateError | null => {
    const address = connectionInfo(client).remoteAddress
    const key = guardKey(address, username)
    if (!result.ok) {
      m.connects.inc({ result: result.result })
      if (result.guess && guard.failed(key)) {
        m.lockouts.inc()
        log.warn({ remote: address, username: printable(username), lockoutMs: settings.lockout },
          'too many failed logins: this username is refused from this address until the lockout ends (other users are not affected); fix the device\'s credentials, or raise --auth-max-failures')
      }
      if (result.guess && userGuard.failed(username)) {
        m.lockouts.inc()
        log.warn({ username: printable(username), lockoutMs: settings.lockout, maxFailures: settings.maxFailuresPerUser },
          'too many failed logins for this username from many addresses: it is refused everywhere except from the addresses it logged in from before, until the lockout ends; someone may be guessing its password')
      }
      log.debug({ clientId: client.id, remote: address, reason: result.reason }, 'connection refused')
      return refusal(result.reason, result.code)
    }
    guard.succeeded(key)
    userGuard.succeeded(username, address)
    // A re-authentication replaces the identity, and the expiry of the token it had.
    const previous = clients.get(client)
    if (previous?.expiry) clearTimeout(previous.expiry)
    const state: ClientAuth = {
      username: result.username,
      source: result.source,
      tokenAcl: result.tokenAcl,
      permissions: compilePermissions(aclFile?.value ?? null, { username: result.username, clientId: client.id }, result.tokenAcl),
      version,
      expiry: null
    }
    if (result.expiresAt !== null && result.expiresAt - Date.now() < MAX_TIMER_MS) {
      state.expiry = setTimeout(expire, Math.max(0, result.expiresAt - Date.now()), client, log)
      state.expiry.unref()
    }
    clients.set(client, state)
    if (result.source === 'cert' || previous !== undefined) connectionInfo(client).username = result.username
    m.connects.inc({ result: 'accepted' })
    return null
  }

  const authorizePublish: AuthorizePublishHandler = (client, packet, done) => {
    if (client === null) return authorizeWithoutClient(packet, done)
    const permissions = permissionsOf(client)
    if (permissions !== null && (permissions.unrestricted || permissions.canPublish(packet.topic))) return done(null)
    m.publishDenied.inc()
    log.info({ clientId: client.id, username: printable(clients.get(client)?.username), topic: printable(packet.topic), qos: packet.qos }, 'publish denied by ACL')
    // Acknowledged (QoS 1/2) as MQTT 3.1.1 requires, but not routed, retained or mirrored.
    hooks.dropPublish(packet)
    done(null)
  }

  // No connection: a backend's message (the admin API says who: trusted, or checked as an
  // identity against the ACL file; a JWT's `acl` claim belongs to a token, not to an
  // identity), or a will left by a client of an earlier run (Aedes publishes it with no
  // client): its identity is gone, so while topic rules are in force it cannot be checked
  // and is dropped.
  const authorizeWithoutClient = (packet: PublishPacket, done: (err?: Error | null) => void): void => {
    const backend = hooks.backendOf(packet)
    if (backend?.trusted === true) return done(null)
    if (backend !== undefined) {
      const who = { username: backend.username, clientId: backend.clientId }
      if (aclFile === null || compilePermissions(aclFile.value, who, null).canPublish(packet.topic)) return done(null)
      m.publishDenied.inc()
      log.info({ as: { clientId: printable(who.clientId), username: printable(who.username) }, topic: printable(packet.topic) }, 'backend publish denied by ACL')
      hooks.dropPublish(packet)
      return done(null)
    }
    if (aclFile === null && jwt === null) return done(null)
    m.publishDenied.inc()
    log.info({ topic: printable(packet.topic) }, 'will of a client from an earlier run dropped: its permissions cannot be checked')
    hooks.dropPublish(packet)
    done(null)
  }

  const authorizeSubscribe: AuthorizeSubscribeHandler = (client, sub, done) => {
    const permissions = permissionsOf(client)
    if (permissions !== null && (permissions.unrestricted || permissions.canSubscribe(subscriptionFilter(sub.topic)))) return done(null, sub)
    m.subscribeDenied.inc()
    log.info({ clientId: client.id, username: printable(clients.get(client)?.username), filter: printable(sub.topic) }, 'subscription denied by ACL')
    done(null, null) // SUBACK 0x80 for this filter only
  }

  const authorizeForward: AuthorizeForwardHandler = (client, packet) => {
    const permissions = permissionsOf(client)
    if (permissions !== null && (permissions.unrestricted || permissions.canRead(packet.topic))) return packet
    m.forwardDenied.inc()
    return null
  }

  hooks.add('authenticate', authenticate)
  const methodDeps = { lockedOut, settle }
  if (passwordFile !== null) {
    hooks.addAuthMethod(scramMethod(() => passwordFile.value, methodDeps, username => {
      log.warn({ username: printable(username) }, `${SCRAM_METHOD} refused: this user's password file line is a $6$ hash, which SCRAM cannot use; rehash it as $7$ (swallow passwd)`)
    }))
  }
  if (jwt !== null) hooks.addAuthMethod(jwtMethod(() => jwt, methodDeps))
  hooks.add('authorizePublish', authorizePublish)
  hooks.add('authorizeSubscribe', authorizeSubscribe)
  hooks.add('authorizeForward', authorizeForward)

  const onDisconnect = (client: Client): void => {
    const state = clients.get(client)
    if (state?.expiry) clearTimeout(state.expiry)
  }
  broker.on('clientDisconnect', onDisconnect)

  // What a reload re-reads: name in the reload line, metric label, file, what is in force.
  const reloadables = [
    ['passwords', 'password', passwordFile, () => count(passwordFile?.value.size ?? 0, 'user')],
    ['acl', 'acl', aclFile, () => count(aclRuleCount(aclFile?.value), 'rule')],
    ['jwt-key', 'jwt-key', jwtKeyFile, () => jwtKeyFile?.value.kind === 'jwks' ? 'JWKS' : 'PEM key']
  ] as const
  // Reloads run one at a time; a burst of changes collapses into the next run.
  let reloading: Promise<unknown> = Promise.resolve()
  const reload = (): Promise<ReloadPart[]> => {
    const run = reloading.then(reloadFiles)
    reloading = run.catch(() => {})
    return run
  }
  const reloadFiles = async (): Promise<ReloadPart[]> => {
    const parts: ReloadPart[] = []
    let changed = false
    for (const [name, metricLabel, file, size] of reloadables) {
      if (file === null) continue
      const outcome = await file.reload()
      if (outcome instanceof FileProblem) {
        m.reloads.inc({ file: metricLabel, result: 'error' })
        parts.push({ name, outcome: 'failed', problem: outcome.message })
        continue
      }
      if (outcome !== 'unchanged') {
        changed = true
        m.reloads.inc({ file: metricLabel, result: 'reloaded' })
      }
      parts.push({ name, outcome, size: size() })
    }
    if (changed) {
      version++
      jwt = makeJwt()
      if (passwordFile !== null) disconnectRemovedUsers(broker, clients, passwordFile.value, log)
    }
    return parts
  }
  const watched = [passwordFile, aclFile, jwtKeyFile].filter(f => f !== null).map(f => f.path)
  // A change on disk logs its own line; SIGHUP's parts go into the broker's line (handle.reload).
  const watcher = settings.watch
    ? watchFiles(watched, () => { reload().then(parts => logReload(log, 'file change', parts), err => log.error({ err }, 'auth reload failed')) })
    : null

  log.info({
    passwordFile: settings.passwordFile, aclFile: settings.aclFile, jwt: jwt !== null, certIdentity: settings.certIdentity,
    anonymous: !identity.sourcesConfigured || settings.allowAnonymous
  }, 'auth enabled')
  const prune = setInterval(() => guard.prune(), 60_000)
  prune.unref()
  return {
    reload,
    async close () {
      clearInterval(prune)
      watcher?.close()
      broker.removeListener('clientDisconnect', onDisconnect)
      await reloading
    }
  }
}

function expire (client: Client, log: Logger): void {
  log.info({ clientId: client.id }, 'token expired: disconnecting')
  client.close()
}

/** Users removed from the password file lose their connections; others keep theirs. */
function disconnectRemovedUsers (broker: Aedes, clients: WeakMap<Client, ClientAuth>, passwords: PasswordFile, log: Logger): void {
  for (const client of registeredClients(broker)) {
    const state = clients.get(asAedesClient(client))
    if (state?.source === 'password' && state.username !== undefined && !passwords.has(state.username)) {
      log.info({ clientId: client.id, username: state.username }, 'user removed from the password file: disconnecting')
      client.close()
    }
  }
}

function aclRuleCount (acl: AclFile | undefined): number {
  if (acl === undefined) return 0
  let n = acl.anonymous.length + acl.patterns.length
  for (const rules of acl.users.values()) n += rules.length
  return n
}

const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`

/** A shared subscription ($share/GROUP/FILTER) is authorized on its FILTER. */
function subscriptionFilter (topic: string): string {
  if (!topic.startsWith('$share/')) return topic
  const slash = topic.indexOf('/', 7)
  return slash === -1 ? topic : topic.slice(slash + 1)
}

/** Client-supplied strings in logs: bounded, control characters escaped. */
function printable (value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const short = value.length > 200 ? value.slice(0, 200) + '…' : value
  // eslint-disable-next-line no-control-regex
  return short.replace(/[\u0000-\u001f\u007f]/g, c => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

interface AuthMetrics {
  connects: Counter<'result'>
  lockouts: Counter
  publishDenied: Counter
  subscribeDenied: Counter
  forwardDenied: Counter
  reloads: Counter<'file' | 'result'>
}

function createAuthMetrics (registry: PluginContext['metrics']): AuthMetrics {
  const registers = [registry]
  return {
    connects: new Counter({ name: 'swallow_auth_connects_total', help: 'CONNECT authentication outcomes (accepted, bad_credentials, anonymous_refused, locked_out, busy)', labelNames: ['result'], registers }),
    lockouts: new Counter({ name: 'swallow_auth_lockouts_total', help: 'Addresses locked out by the brute-force guard', registers }),
    publishDenied: new Counter({ name: 'swallow_auth_publish_denied_total', help: 'PUBLISH packets denied by the ACL (acknowledged, not routed)', registers }),
    subscribeDenied: new Counter({ name: 'swallow_auth_subscribe_denied_total', help: 'Subscription filters denied by the ACL (SUBACK 0x80)', registers }),
    forwardDenied: new Counter({ name: 'swallow_auth_forward_denied_total', help: 'Deliveries withheld from a subscriber by the ACL', registers }),
    reloads: new Counter({ name: 'swallow_auth_reloads_total', help: 'Auth file reloads, by file and result', labelNames: ['file', 'result'], registers })
  }
}
