// What the admin API (plugins/fleet) may know of, and do to, this node's connected clients,
// read off the protocol core's Connection: identity, session kind and the counters the
// Connection keeps (plain numbers incremented per packet; nothing here runs per message).
import type { Aedes } from 'aedes'
import { registeredClient, registeredClients } from './aedes-seam.js'
import { Connection } from './protocol/connection.js'
import { ReasonCode } from './protocol/reason-codes.js'
import type { Transport } from './connection.js'

export interface SubscriptionFigures {
  filter: string
  qos: number
  /** MQTT 5 options (absent on 3.1.1). */
  noLocal?: boolean
  retainAsPublished?: boolean
  retainHandling?: number
  identifier?: number
}

export interface ClientFigures {
  clientId: string
  username: string | null
  remoteAddress: string
  transport: Transport
  /** 3 (MQTT 3.1), 4 (3.1.1) or 5. */
  protocolVersion: number
  connectedAt: number
  /** Seconds, as in force (0: none). */
  keepalive: number
  /** The session outlives the connection. */
  persistent: boolean
  /** Seconds (4294967295: never expires). */
  sessionExpiry: number
  subscriptions: number
  inflight: number
  queued: number
  messagesIn: number
  messagesOut: number
  bytesIn: number
  bytesOut: number
}

export interface WillFigures { topic: string, qos: number, retain: boolean, delay: number, payloadBytes: number }

/** A live connection, as the admin API sees it. */
export interface LiveClient {
  readonly id: string
  figures: () => ClientFigures
  subscriptionList: () => SubscriptionFigures[]
  will: () => WillFigures | null
  /** Closes it (MQTT 5: DISCONNECT 0x98 Administrative action); `endSession`: its stored session is deleted too. */
  kick: (endSession: boolean) => void
}

/** Every connected client of this node (session markers and pseudo clients are not clients). */
export function liveClients (broker: Aedes): LiveClient[] {
  const out: LiveClient[] = []
  for (const c of registeredClients(broker)) if (c instanceof Connection && c.connected) out.push(view(c))
  return out
}

export function liveClient (broker: Aedes, id: string): LiveClient | undefined {
  const c = registeredClient(broker, id)
  return c instanceof Connection && c.connected ? view(c) : undefined
}

function view (c: Connection): LiveClient {
  return {
    id: c.id,
    figures: () => figures(c),
    subscriptionList: () => c.subscriptionList.map(s => ({
      filter: s.topic,
      qos: s.qos,
      ...(c.version === 5 ? { noLocal: s.nl === true, retainAsPublished: s.rap === true, retainHandling: s.rh ?? 0 } : {}),
      ...(s.id !== undefined ? { identifier: s.id } : {})
    })),
    will: () => c.will === null ? null : { topic: c.will.topic, qos: c.will.qos, retain: c.will.retain, delay: c.will.delay, payloadBytes: c.will.payload.length },
    kick: endSession => {
      // A session that ends with its connection is deleted by the core (session.ts endSession).
      if (endSession) c.sessionExpiry = 0
      c.disconnect(ReasonCode.administrativeAction)
    }
  }
}

function figures (c: Connection): ClientFigures {
  return {
    clientId: c.id,
    username: c.username ?? null,
    remoteAddress: c.remoteAddress,
    transport: c.transport,
    protocolVersion: c.version,
    connectedAt: c.connectedAt,
    keepalive: Math.round(c.keepaliveMs / 1500),
    persistent: !c.clean,
    sessionExpiry: c.sessionExpiry,
    subscriptions: c.subscriptionList.length,
    inflight: c.outbound.inflightCount,
    queued: c.outbound.queuedCount,
    messagesIn: c.messagesIn,
    messagesOut: c.messagesOut,
    bytesIn: c.bytesIn,
    bytesOut: c.bytesOut
  }
}
