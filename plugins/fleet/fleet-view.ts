// The clients of the whole fleet, as the API asks for them: this node's (LocalFleet), or,
// with Redis storage, every node's (cluster.ts asks the others through Redis).
import type { Aedes } from 'aedes'
import { liveClient, liveClients, type ClientFigures, type LiveClient, type SubscriptionFigures, type WillFigures } from '../../src/client-figures.js'

export interface ClientSummary extends ClientFigures {
  connected: true
  node: string
}

export interface ClientDetail extends ClientSummary {
  subscriptionList: SubscriptionFigures[]
  will: WillFigures | null
}

/** One subscription of a connected client. */
export interface LiveSubscription extends SubscriptionFigures { clientId: string, node: string }

/** Which clients a kick closes: every given field must match (prefix: of the client id). */
export interface KickSelector { clientId?: string, username?: string, prefix?: string, address?: string }

export interface Fleet {
  /** The nodes answering (this one first). */
  nodes: () => Promise<string[]>
  clients: () => Promise<ClientSummary[]>
  client: (id: string) => Promise<ClientDetail | null>
  subscriptions: () => Promise<LiveSubscription[]>
  /** Closes the matching clients (MQTT 5: DISCONNECT 0x98); `endSession`: their sessions are deleted too. Resolves how many. */
  kick: (selector: KickSelector, endSession: boolean) => Promise<number>
  /** Presence of this node's clients for the other nodes ($SYS/broker/... is not routed between nodes); null: no other nodes. */
  sharePresence: ((message: PresenceMessage) => void) | null
  /** Presence of another node's clients. */
  onPresence: (listener: (message: PresenceMessage) => void) => void
  close: () => Promise<void>
}

export interface PresenceMessage { clientId: string, what: 'connected' | 'disconnected', body: object }

/** An IPv4 client on a dual-stack socket reads as ::ffff:1.2.3.4; bans and filters compare 1.2.3.4. */
export function plainAddress (address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}

export function selects (f: ClientFigures, s: KickSelector): boolean {
  if (s.clientId !== undefined && f.clientId !== s.clientId) return false
  if (s.prefix !== undefined && !f.clientId.startsWith(s.prefix)) return false
  if (s.username !== undefined && f.username !== s.username) return false
  if (s.address !== undefined && plainAddress(f.remoteAddress) !== plainAddress(s.address)) return false
  return true
}

/** This node's part of the answers (also what a cluster node answers for the others). */
export class LocalClients {
  constructor (private readonly broker: Aedes, readonly nodeId: string) {}

  summaries (): ClientSummary[] {
    return liveClients(this.broker).map(c => this.summary(c))
  }

  detail (id: string): ClientDetail | null {
    const c = liveClient(this.broker, id)
    if (c === undefined) return null
    return { ...this.summary(c), subscriptionList: c.subscriptionList(), will: c.will() }
  }

  subscriptions (): LiveSubscription[] {
    const out: LiveSubscription[] = []
    for (const c of liveClients(this.broker)) for (const s of c.subscriptionList()) out.push({ clientId: c.id, node: this.nodeId, ...s })
    return out
  }

  kick (selector: KickSelector, endSession: boolean): number {
    if (selector.clientId !== undefined) {
      const one = liveClient(this.broker, selector.clientId)
      if (one === undefined || !selects(one.figures(), selector)) return 0
      one.kick(endSession)
      return 1
    }
    let n = 0
    for (const c of liveClients(this.broker)) {
      if (!selects(c.figures(), selector)) continue
      c.kick(endSession)
      n++
    }
    return n
  }

  private summary (c: LiveClient): ClientSummary {
    return { ...c.figures(), connected: true, node: this.nodeId }
  }
}

/** One node: the answers are this node's. */
export function localFleet (local: LocalClients): Fleet {
  return {
    nodes: async () => [local.nodeId],
    clients: async () => local.summaries(),
    client: async id => local.detail(id),
    subscriptions: async () => local.subscriptions(),
    kick: async (selector, endSession) => local.kick(selector, endSession),
    sharePresence: null,
    onPresence: () => {},
    close: async () => {}
  }
}
