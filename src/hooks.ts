// Aedes has one slot per hook; Swallow has many plugins that want each of them.
// Hooks owns the slots: plugins add handlers, and install() composes them into the
// single Aedes function per hook, run in registration order (the order of
// src/builtins.ts, core steps first). A handler never replaces another.
import type { Aedes, AedesPublishPacket, AuthenticateError, Client, ConnectPacket, PublishPacket, Subscription } from 'aedes'
import { hookSlots } from './aedes-seam.js'
import { isReservedTopic } from './session-marker.js'

export type PreConnectHandler = (client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void) => void
export type AuthenticateHandler = (client: Client, username: string | undefined, password: Buffer | undefined,
  done: (err: AuthenticateError | null, ok: boolean | null) => void) => void
export type AuthorizePublishHandler = (client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void) => void
export type AuthorizeSubscribeHandler = (client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void) => void
/** Synchronous, per delivery: return the packet (possibly changed) to send it, or null to skip this client. */
export type AuthorizeForwardHandler = (client: Client, packet: AedesPublishPacket) => AedesPublishPacket | null | undefined
export type PublishedHandler = (packet: AedesPublishPacket, client: Client | null, done: (err?: Error | null) => void) => void

interface HandlerMap {
  preConnect: PreConnectHandler
  authenticate: AuthenticateHandler
  authorizePublish: AuthorizePublishHandler
  authorizeSubscribe: AuthorizeSubscribeHandler
  authorizeForward: AuthorizeForwardHandler
  published: PublishedHandler
}
export type HookName = keyof HandlerMap

export class Hooks {
  private readonly handlers: { [K in HookName]: Array<HandlerMap[K]> } = {
    preConnect: [], authenticate: [], authorizePublish: [], authorizeSubscribe: [], authorizeForward: [], published: []
  }

  private installed = false
  private readonly dropped = new WeakSet<object>()

  /**
   * Marks a PUBLISH as "acknowledge, but do not route": call it from an authorizePublish
   * handler, then call back without an error. The hooks after it do not run, and the
   * broker acknowledges the message (MQTT 3.1.1: PUBACK/PUBREC; MQTT 5: with reason code
   * 0x87) without retaining, queueing, routing or mirroring it. (An authorizePublish error
   * closes the connection instead.)
   */
  dropPublish (packet: PublishPacket): void {
    this.dropped.add(packet)
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
      if (err || i === handlers.length || dropped.has(packet)) return done(err ?? null)
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
