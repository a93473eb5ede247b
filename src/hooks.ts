// Aedes has one slot per hook; Swallow has many plugins that want each of them.
// Hooks owns the slots: plugins add handlers, and install() composes them into the
// single Aedes function per hook, run in registration order (the order of
// src/builtins.ts, core steps first). A handler never replaces another.
import type { Aedes, AedesPublishPacket, AuthenticateError, Client, ConnectPacket, PublishPacket, Subscription } from 'aedes'
import { hookSlots } from './aedes-seam.js'
import { isReservedTopic } from './session-marker.js'
import type { RoutedPacket } from './protocol/types.js'

/** What the handlers decided about a PUBLISH besides "route it" (set on the message itself). */
type Outcome = Pick<RoutedPacket, 'delayed' | 'deferred' | 'refusal'>

export type PreConnectHandler = (client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void) => void
export type AuthenticateHandler = (client: Client, username: string | undefined, password: Buffer | undefined,
  done: (err: AuthenticateError | null, ok: boolean | null) => void) => void
export type AuthorizePublishHandler = (client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void) => void
export type AuthorizeSubscribeHandler = (client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void) => void
/** Synchronous, per delivery: return the packet (possibly changed) to send it, or null to skip this client. */
export type AuthorizeForwardHandler = (client: Client, packet: AedesPublishPacket) => AedesPublishPacket | null | undefined
export type PublishedHandler = (packet: AedesPublishPacket, client: Client | null, done: (err?: Error | null) => void) => void

/**
 * MQTT 5 extended authentication (the AUTH packet, MQTT 5.0 section 4.12): a plugin
 * implements a method by name (hooks.addAuthMethod). The protocol core runs the exchange:
 * each step gets the client's Authentication Data (CONNECT's first, then each AUTH's) and
 * answers with data to send back (AUTH 0x18), success or failure. A CONNECT naming a method
 * no plugin implements gets CONNACK 0x8C.
 */
export interface AuthMethod {
  /** The Authentication Method clients name in CONNECT, e.g. 'SCRAM-SHA-512'. */
  name: string
  /**
   * Begins one exchange: at CONNECT, or when a connected client re-authenticates (AUTH 0x19).
   * On success the method has established who the client is (the authenticate handlers
   * still run after a CONNECT's exchange, for the core checks; see below).
   */
  begin: (client: Client, context: AuthContext) => AuthExchange
}

export interface AuthContext {
  /** CONNECT's User Name, if any. */
  username: string | undefined
  /** A connected client started this exchange with AUTH 0x19 (re-authentication). */
  reauthentication: boolean
}

export interface AuthExchange {
  step: (data: Buffer | undefined) => Promise<AuthStep>
  /** The exchange ended before an answer: the client left, or it took too long. */
  abandon?: () => void
}

export type AuthStep =
  | { outcome: 'continue', data: Buffer }
  | { outcome: 'success', data?: Buffer }
  /** reasonCode: the MQTT 5 CONNACK reason (default 0x87 Not authorized); a failed re-authentication is DISCONNECT 0x87. */
  | { outcome: 'failure', reason: string, reasonCode?: number }

interface HandlerMap {
  preConnect: PreConnectHandler
  authenticate: AuthenticateHandler
  authorizePublish: AuthorizePublishHandler
  authorizeSubscribe: AuthorizeSubscribeHandler
  authorizeForward: AuthorizeForwardHandler
  published: PublishedHandler
}
export type HookName = keyof HandlerMap

/**
 * Who a PUBLISH without a connection comes from, when a plugin says (the admin API's
 * POST /api/publish): `trusted`, a backend with the full admin token, which client ACLs do
 * not apply to (as EMQX's HTTP publish API); or an identity whose ACL write check applies.
 */
export type BackendPublisher = { trusted: true } | { trusted: false, username: string | undefined, clientId: string }

export class Hooks {
  private readonly handlers: { [K in HookName]: Array<HandlerMap[K]> } = {
    preConnect: [], authenticate: [], authorizePublish: [], authorizeSubscribe: [], authorizeForward: [], published: []
  }

  private installed = false
  private readonly dropped = new WeakSet<object>()
  private readonly backends = new WeakMap<object, BackendPublisher>()
  private readonly authMethods = new Map<string, AuthMethod>()

  /**
   * Adds an MQTT 5 authentication method. A client that completed a CONNECT exchange still
   * passes the authenticate handlers (client id and connection limits run there); a plugin
   * that authenticated it by method accepts it there without asking for a password.
   */
  addAuthMethod (method: AuthMethod): void {
    if (this.installed) throw new Error(`hooks.addAuthMethod('${method.name}') after the broker started; add it in Plugin.setup()`)
    if (this.authMethods.has(method.name)) throw new Error(`two plugins implement the authentication method ${method.name}`)
    this.authMethods.set(method.name, method)
  }

  authMethod (name: string): AuthMethod | undefined {
    return this.authMethods.get(name)
  }

  /**
   * Marks a PUBLISH as "acknowledge, but do not route": call it from an authorizePublish
   * handler, then call back without an error. The hooks after it do not run, and the
   * broker acknowledges the message (MQTT 3.1.1: PUBACK/PUBREC; MQTT 5: with reason code
   * 0x87) without retaining, queueing, routing or mirroring it. (An authorizePublish error
   * closes the connection instead.)
   */
  dropPublish (packet: PublishPacket, reasonCode?: number): void {
    this.dropped.add(packet)
    // MQTT 5 answers with this reason code instead of 0x87 (e.g. 0x97 Quota exceeded).
    if (reasonCode !== undefined) (packet as Outcome).refusal = reasonCode
  }

  /**
   * Marks a PUBLISH as "stored to be published later" (the delayed-publish plugin, after it
   * stored the message durably): acknowledged with success, not routed now. The hooks after
   * the deferring handler run at release instead (continuePublish).
   */
  deferPublish (packet: PublishPacket): void {
    (packet as Outcome).deferred = true
  }

  /**
   * Runs the authorizePublish handlers that come after `handler` in hook order: the ones a
   * deferral skipped (the log bridge, for a delayed message released now). Its outcome is
   * `done`'s error or isDropped(packet).
   */
  continuePublish (handler: AuthorizePublishHandler, client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void): void {
    const at = this.handlers.authorizePublish.indexOf(handler)
    if (at === -1) throw new Error('hooks.continuePublish: the handler was never added to authorizePublish')
    // Published now: no longer deferred, nor a `$delayed/` message.
    delete (packet as Outcome).deferred
    delete (packet as Outcome).delayed
    composeAuthorizePublish(this.handlers.authorizePublish.slice(at + 1), this.dropped)(client, packet, done)
  }

  /** Says who a PUBLISH without a client comes from, for the authorizePublish handlers (before they run). */
  publishFromBackend (packet: object, who: BackendPublisher): void {
    this.backends.set(packet, who)
  }

  /** Who publishFromBackend said a PUBLISH comes from (undefined: a will of an earlier run, or a plugin's own message). */
  backendOf (packet: object): BackendPublisher | undefined {
    return this.backends.get(packet)
  }

  /** True when a handler called dropPublish(packet). */
  isDropped (packet: object): boolean {
    return this.dropped.has(packet)
  }

  add<K extends HookName> (hook: K, handler: HandlerMap[K]): void {
    if (this.installed) throw new Error(`hooks.add('${hook}') after the broker started; add hooks in Plugin.setup()`)
    this.handlers[hook].push(handler)
  }

  /** Writes the composed handlers into the broker's hook slots. Called once, before listeners open. */
  install (broker: Aedes): void {
    this.installed = true
    const h = this.handlers
    const slots = hookSlots<Record<HookName, unknown>>(broker)
    slots.preConnect = composeAll(h.preConnect, (r: unknown) => r === true)
    slots.authenticate = composeAll(h.authenticate, (r: unknown) => r === true)
    slots.authorizePublish = composeAuthorizePublish(h.authorizePublish, this.dropped)
    slots.authorizeSubscribe = composeSubscribe(h.authorizeSubscribe)
    slots.authorizeForward = composeForward(h.authorizeForward)
    slots.published = composeAll(h.published, () => true)
  }
}

type AnyCallbackHandler = (...args: any[]) => void

/**
 * Runs callback-style handlers in series; the first error, or a result that `accepted`
 * rejects, ends the chain with that outcome. With no handlers it accepts at once.
 */
function composeAll (handlers: AnyCallbackHandler[], accepted: (result: unknown) => boolean): AnyCallbackHandler {
  if (handlers.length === 1) return handlers[0]
  return function composed (...args: any[]) {
    const done = args.pop() as (err: Error | null, result?: unknown) => void
    let i = 0
    const step = (err?: Error | null, result?: unknown): void => {
      if (err) return done(err, false)
      if (i > 0 && !accepted(result)) return done(null, result)
      if (i === handlers.length) return done(null, i === 0 ? true : result)
      handlers[i++](...args, step)
    }
    step(null, true)
  }
}

function composeAuthorizePublish (handlers: AuthorizePublishHandler[], dropped: WeakSet<object>): AuthorizePublishHandler {
  return function authorizePublish (client, packet, done) {
    let i = 0
    const step = (err?: Error | null): void => {
      if (err || dropped.has(packet) || (packet as Outcome).deferred === true) return done(err ?? null)
      if (i === handlers.length) {
        // A `$delayed/` message no handler took must not be published now: refused (MQTT 5: 0x83).
        if ((packet as Outcome).delayed !== undefined) {
          (packet as Outcome).refusal = 0x83
          dropped.add(packet)
        }
        return done(null)
      }
      handlers[i++](client, packet, step)
    }
    step(null)
  }
}

function composeSubscribe (handlers: AuthorizeSubscribeHandler[]): AuthorizeSubscribeHandler {
  return function authorizeSubscribe (client, sub, done) {
    // $swallow/ topics hold the broker's session markers (src/session-marker.ts): never subscribed to.
    if (isReservedTopic(sub.topic)) return done(null, null)
    let i = 0
    const step = (err: Error | null, next?: Subscription | null): void => {
      if (err || !next || i === handlers.length) return done(err, next)
      handlers[i++](client, next, step)
    }
    step(null, sub)
  }
}

function composeForward (handlers: AuthorizeForwardHandler[]): AuthorizeForwardHandler {
  if (handlers.length === 1) return handlers[0]
  return function authorizeForward (client, packet) {
    let current: AedesPublishPacket | null | undefined = packet
    for (let i = 0; i < handlers.length && current; i++) current = handlers[i](client, current)
    return current
  }
}
