// CONNECT -> CONNACK, for MQTT 3.1, 3.1.1 and 5.0, as a list of steps:
//   validate -> identify -> preConnect hook -> [MQTT 5 Authentication Method: the AUTH
//   exchange] -> authenticate hook -> open the session
//   (delete or restore what is stored, store the will) -> register (take over a connection
//   with the same client id, MQTT-3.1.4-2) -> CONNACK -> keep alive -> resend the stored queue.
// A refusal is a CONNACK with its reason code (MQTT 3.1.1: return code), then the close.
import { randomUUID } from 'node:crypto'
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet'
import type { AuthenticateError } from 'aedes'
import { ProtocolError, type Connection } from '../connection.js'
import { beginExchange, stepExchange } from '../extended-auth.js'
import type { HandlerDone } from '../inbox.js'
import { connackCode, ReasonCode, reasonFromReturnCode } from '../reason-codes.js'
import { SessionLimitReached } from '../session-limit.js'
import { awaitOfflineWrite, cancelExpiry, deleteStoredSession, endDelayedWill, markSession, NEVER_EXPIRES, replayStoredQueue, restoreSession, storeWill } from '../session.js'
import { OutboundAliases } from '../topic-aliases.js'
import { validTopicName } from '../topic-rules.js'


export function handleConnect (conn: Connection, packet: IConnectPacket, done: HandlerDone): void {
  if (conn.connecting || conn.connected) return done(new ProtocolError('second CONNECT on one connection (MQTT-3.1.0-2)'))
  conn.connecting = true
  conn.version = packet.protocolVersion ?? 4
  conn.connectArrived()
  const invalid = validate(conn, packet)
  if (invalid !== null) return done(invalid)
  const assignedId = identify(conn, packet)
  conn.core.hooks.preConnect(conn.asClient, packet as never, (err, ok) => {
    if (err || ok !== true) return done(err ?? new Error('connection refused by preConnect'))
    const method = conn.version === 5 ? packet.properties?.authenticationMethod : undefined
    if (method === undefined) return authenticate(conn, packet, assignedId, done)
    exchangeAuthentication(conn, packet, method, assignedId, done)
  })
}

/**
 * MQTT 5 extended authentication: the plugin implementing the method runs an AUTH exchange
 * (extended-auth.ts; handlers/auth.ts brings each client step); on success the CONNECT
 * goes on through the authenticate hooks, its final Authentication Data in the CONNACK.
 */
function exchangeAuthentication (conn: Connection, packet: IConnectPacket, method: string, assignedId: string | null, done: HandlerDone): void {
  conn.authMethod = method
  const began = beginExchange(conn, packet.username, false, (outcome, finished) => {
    if (outcome.outcome === 'failure') return refuse(conn, Object.assign(new Error(outcome.reason), { reasonCode: outcome.reasonCode ?? ReasonCode.notAuthorized }) as never, finished)
    authenticate(conn, packet, assignedId, finished, outcome.data)
  })
  if (!began) {
    return refuse(conn, Object.assign(new Error(`authentication method ${method} is not supported`), { reasonCode: ReasonCode.badAuthenticationMethod }) as never, done)
  }
  stepExchange(conn, packet.properties?.authenticationData, done)
}

/** The authenticate hooks (passwords, tokens, client id and connection limits), then the session. */
function authenticate (conn: Connection, packet: IConnectPacket, assignedId: string | null, done: HandlerDone, authData?: Buffer): void {
  conn.core.hooks.authenticate(conn.asClient, packet.username, packet.password, (authErr, authorized) => {
    if (conn.closed) return done()
    if (authErr || authorized !== true) return refuse(conn, authErr, done)
    if (keepaliveRefused(conn, packet)) {
      return refuse(conn, Object.assign(new Error(`keep alive ${packet.keepalive} s is longer than --max-keepalive ${conn.core.limits.maxKeepalive} s`), { returnCode: 2 }) as never, done)
    }
    openSession(conn, packet, assignedId, authData).then(() => done(), (err: Error) => {
      // Storage could not open the session (a full disk, Redis down for good): the client is
      // told to come back later, as for any unavailable server, and nothing was acknowledged.
      if (conn.connected) return done(err)
      if (err instanceof SessionLimitReached) return refuse(conn, err as never, done)
      refuse(conn, Object.assign(new Error(`the session could not be opened: ${err.message}`), { returnCode: 3 }) as never, done)
    })
  })
}

/**
 * --max-keepalive: an MQTT 5 client asking for more, or for none, is told to use the
 * maximum (Server Keep Alive, MQTT-3.2.2-21); MQTT 3.1.1 cannot be told, so a 3.1.1 client
 * asking for more is refused (CONNACK 0x02, as Mosquitto does); one asking for none keeps none.
 */
function keepaliveOf (conn: Connection, packet: IConnectPacket): number {
  const max = conn.core.limits.maxKeepalive
  const asked = packet.keepalive ?? 0
  return conn.version === 5 && max > 0 && (asked === 0 || asked > max) ? max : asked
}

function keepaliveRefused (conn: Connection, packet: IConnectPacket): boolean {
  const max = conn.core.limits.maxKeepalive
  return conn.version !== 5 && max > 0 && (packet.keepalive ?? 0) > max
}

function validate (conn: Connection, packet: IConnectPacket): Error | null {
  const properties = packet.properties
  if (properties?.receiveMaximum === 0) return new ProtocolError('Receive Maximum 0 (MQTT-3.1.2-... protocol error)')
  if (properties?.maximumPacketSize === 0) return new ProtocolError('Maximum Packet Size 0 is a protocol error')
  if (packet.will && !validTopicName(packet.will.topic)) return new ProtocolError('invalid will topic', ReasonCode.topicNameInvalid)
  if (conn.version === 5 && properties !== undefined) {
    if (properties.receiveMaximum !== undefined) conn.outbound.window = Math.min(conn.core.limits.maxInflight, properties.receiveMaximum)
    if (properties.maximumPacketSize !== undefined) conn.maxPacketSizeOut = properties.maximumPacketSize
    if (properties.requestProblemInformation === false) conn.problemInformation = false
    if ((properties.topicAliasMaximum ?? 0) > 0) conn.aliasesOut = new OutboundAliases(properties.topicAliasMaximum as number)
  }
  return null
}

/** The client id, the session kind and the will. Returns the id the broker assigned, if it did. */
function identify (conn: Connection, packet: IConnectPacket): string | null {
  let assigned: string | null = null
  conn.id = packet.clientId
  conn.username = packet.username
  if (conn.id === '') conn.id = assigned = 'swallow_' + randomUUID()
  // MQTT 3.1.1 persistent sessions last forever, MQTT 5 says so with 0xFFFFFFFF; both are
  // capped by --max-session-expiry.
  const asked = conn.version === 5 ? (packet.properties?.sessionExpiryInterval ?? 0) : (packet.clean === false ? NEVER_EXPIRES : 0)
  conn.sessionExpiry = Math.min(asked, conn.core.limits.maxSessionExpiry)
  conn.sessionExpiryAsked = asked
  conn.clean = conn.sessionExpiry === 0
  const will = packet.will
  if (will) {
    const { willDelayInterval, ...properties } = will.properties ?? {}
    conn.will = {
      cmd: 'publish',
      topic: will.topic,
      payload: Buffer.isBuffer(will.payload) ? will.payload : Buffer.from(will.payload),
      qos: will.qos ?? 0,
      retain: will.retain === true,
      dup: false,
      delay: willDelayInterval ?? 0,
      ...(Object.keys(properties).length > 0 ? { properties } : {}),
      ...(properties.messageExpiryInterval !== undefined ? { messageExpiry: Date.now() + properties.messageExpiryInterval * 1000 } : {})
    }
  }
  return assigned
}

async function openSession (conn: Connection, packet: IConnectPacket, assignedId: string | null, authData: Buffer | undefined): Promise<void> {
  const { core } = conn
  const cleanStart = packet.clean !== false
  endDelayedWill(core, conn.id, cleanStart)
  cancelExpiry(core, conn.id)
  await awaitOfflineWrite(core, conn.id)
  let present = false
  if (cleanStart) {
    await deleteStoredSession(core, conn)
  } else {
    present = await restoreSession(conn)
    // MQTT 5 Clean Start 0 with Session Expiry 0: a stored session is used and ends with this connection.
    if (present) conn.clean = false
  }
  if (!present && !conn.clean) {
    if (!await core.sessionLimit.admit()) throw new SessionLimitReached(core.sessionLimit.max)
    await markSession(conn)
  }
  await storeWill(core, conn)
  if (conn.closed) return
  conn.register()
  const keepalive = keepaliveOf(conn, packet)
  writeConnack(conn, ReasonCode.success, present, assignedId, keepalive !== (packet.keepalive ?? 0) ? keepalive : null, authData, responseInformation(conn, packet))
  conn.connecting = false
  conn.connected = true
  conn.keepaliveMs = keepalive * 1500
  core.keepalive.watch(conn)
  core.broker.emit('clientReady', conn.asClient)
  if (present) {
    core.shared.connected(conn)
    replayStoredQueue(conn).catch(err => conn.fail(err as Error))
  }
}

/** MQTT 5 Request Response Information: the base of this client's response topics, when --response-information sets one. */
function responseInformation (conn: Connection, packet: IConnectPacket): string | null {
  const template = conn.core.limits.responseInformation
  if (conn.version !== 5 || packet.properties?.requestResponseInformation !== true || template === null) return null
  return template.replaceAll('%c', conn.id)
}

function writeConnack (conn: Connection, reason: number, sessionPresent: boolean, assignedId: string | null, serverKeepAlive: number | null, authData: Buffer | undefined, responseInfo: string | null): void {
  const connack: IConnackPacket = { cmd: 'connack', sessionPresent, returnCode: connackCode(reason, conn.version) }
  if (conn.version === 5) {
    connack.reasonCode = reason
    delete connack.returnCode
    if (reason === ReasonCode.success) {
      const { limits } = conn.core
      connack.properties = {
        receiveMaximum: limits.maxInflight,
        maximumPacketSize: limits.maxPacketSize,
        topicAliasMaximum: limits.topicAliasMaximum,
        sharedSubscriptionAvailable: true,
        ...(assignedId !== null ? { assignedClientIdentifier: assignedId } : {}),
        ...(serverKeepAlive !== null ? { serverKeepAlive } : {}),
        // The interval the broker uses, when it differs from the one asked for (MQTT 5 3.2.2.3.2).
        ...(conn.sessionExpiry < conn.sessionExpiryAsked ? { sessionExpiryInterval: conn.sessionExpiry } : {}),
        ...(conn.authMethod !== null ? { authenticationMethod: conn.authMethod } : {}),
        ...(authData !== undefined ? { authenticationData: authData } : {}),
        ...(responseInfo !== null ? { responseInformation: responseInfo } : {})
      }
    }
  }
  conn.writePacket(connack)
  conn.core.broker.emit('connackSent', connack, conn.asClient)
}

/** CONNACK with the refusal's code, then close (MQTT-3.2.2-5). */
function refuse (conn: Connection, err: (AuthenticateError & { reasonCode?: number }) | null, done: HandlerDone): void {
  const reason = err?.reasonCode ?? reasonFromReturnCode(err?.returnCode)
  const error = (err ?? new Error('not authorized')) as Error & { errorCode?: number }
  error.errorCode = connackCode(reason, 4)
  if (conn.version === 5) {
    const connack: IConnackPacket = { cmd: 'connack', sessionPresent: false, reasonCode: reason }
    if (conn.problemInformation && error.message) connack.properties = { reasonString: error.message }
    conn.writePacket(connack)
  } else {
    conn.writePacket({ cmd: 'connack', sessionPresent: false, returnCode: connackCode(reason, conn.version) })
  }
  conn.connecting = false
  done(error)
}
