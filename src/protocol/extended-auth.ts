// MQTT 5 extended authentication (section 4.12): the exchange of AUTH packets between a
// CONNECT (or a re-authentication, AUTH 0x19) and its outcome. A plugin implements the
// method (src/hooks.ts AuthMethod); this module runs it: one step per packet the client
// sends, AUTH 0x18 back while the method wants more, and the outcome to whoever began it
// (handlers/connect.ts: CONNACK; handlers/auth.ts: AUTH 0x00 or DISCONNECT).
import type { AuthExchange, AuthStep } from '../hooks.js'
import type { Connection } from './connection.js'
import type { HandlerDone } from './inbox.js'
import { ReasonCode } from './reason-codes.js'

type Outcome = Exclude<AuthStep, { outcome: 'continue' }>

export interface PendingExchange {
  readonly exchange: AuthExchange
  readonly reauthentication: boolean
  /** Bounds the exchange by --connect-timeout: a client that stops answering is closed. */
  readonly timer: NodeJS.Timeout
  /** What the beginner does with the outcome; `done` ends the handler of the packet that brought it. */
  readonly finish: (outcome: Outcome, done: HandlerDone) => void
}

/**
 * Begins an exchange with the method the client named in CONNECT (conn.authMethod).
 * False: no plugin implements that method (CONNACK 0x8C).
 */
export function beginExchange (conn: Connection, username: string | undefined, reauthentication: boolean, finish: PendingExchange['finish']): boolean {
  const method = conn.authMethod === null ? undefined : conn.core.authMethod(conn.authMethod)
  if (method === undefined) return false
  const exchange = method.begin(conn.asClient, { username, reauthentication })
  const timer = setTimeout(() => conn.authTimedOut(), conn.core.limits.connectTimeout)
  timer.unref()
  conn.authExchange = { exchange, reauthentication, timer, finish }
  return true
}

/**
 * Runs one step of the pending exchange with the client's Authentication Data. The method
 * asking for more is answered with AUTH 0x18 here, and the handler ends: the client's next
 * AUTH brings the next step. A method that throws fails the exchange.
 */
export function stepExchange (conn: Connection, data: Buffer | undefined, done: HandlerDone): void {
  const pending = conn.authExchange
  if (pending === null) throw new Error('stepExchange without a pending exchange')
  pending.exchange.step(data).then(answer => {
    if (conn.closed) return done()
    if (answer.outcome === 'continue') {
      writeAuth(conn, ReasonCode.continueAuthentication, answer.data)
      return done()
    }
    endExchange(conn)
    pending.finish(answer, done)
  }, (err: Error) => {
    endExchange(conn)
    conn.core.log.error({ err, clientId: conn.id, method: conn.authMethod }, 'authentication method failed unexpectedly')
    pending.finish({ outcome: 'failure', reason: 'authentication error', reasonCode: ReasonCode.unspecifiedError }, done)
  })
}

/** Ends the pending exchange, if any (its outcome arrived, or the connection closed). */
export function endExchange (conn: Connection, abandoned = false): void {
  const pending = conn.authExchange
  if (pending === null) return
  conn.authExchange = null
  clearTimeout(pending.timer)
  if (abandoned) pending.exchange.abandon?.()
}

export function writeAuth (conn: Connection, reasonCode: number, data: Buffer | undefined): void {
  conn.writePacket({
    cmd: 'auth',
    reasonCode,
    properties: { authenticationMethod: conn.authMethod ?? '', ...(data !== undefined ? { authenticationData: data } : {}) }
  })
}
