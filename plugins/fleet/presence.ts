// Presence for backends: every connect and disconnect is published, not retained, as JSON on
// $SYS/broker/clients/<id>/connected and .../disconnected (a client id with + or # in it
// cannot be a topic level: not published). $SYS/broker/... is each node's own and is not
// routed between cluster nodes, so a node hands its presence to the others (Fleet
// sharePresence, through Redis) and publishes theirs on its own $SYS: a subscriber on any
// node, and each node's /api/events stream (Server-Sent Events), has the whole fleet's
// presence, plus the admin actions taken on that node.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Aedes, Client } from 'aedes'
import { connectionInfo } from '../../src/connection.js'
import type { Fleet, PresenceMessage } from './fleet-view.js'

export interface FleetEvent { type: string, [field: string]: unknown }

const TOPIC_PREFIX = '$SYS/broker/clients/'
const KEEPALIVE_MS = 15_000

export class Presence {
  private readonly streams = new Set<ServerResponse>()
  private readonly onPresence = (packet: { topic: string, payload: Buffer | string }, cb: () => void): void => {
    this.relay(packet.topic, packet.payload)
    cb()
  }

  private readonly keepalive: NodeJS.Timeout

  /** `sysListened`: some connection on this node subscribes to a filter that may match $SYS topics. */
  constructor (private readonly broker: Aedes, private readonly nodeId: string, private readonly fleet: Fleet, private readonly sysListened: () => boolean) {
    fleet.onPresence(m => this.publish(m))
    broker.on('clientReady', this.connected)
    broker.on('clientDisconnect', this.disconnected)
    broker.subscribe(TOPIC_PREFIX + '#', this.onPresence as never, () => {})
    this.keepalive = setInterval(() => { for (const res of this.streams) res.write(': keepalive\n\n') }, KEEPALIVE_MS)
    this.keepalive.unref()
  }

  private readonly connected = (client: Client): void => {
    if (!this.wanted()) return
    const info = connectionInfo(client)
    this.announce({ clientId: client.id, what: 'connected', body: {
      clientId: client.id, username: info.username ?? null, remoteAddress: info.remoteAddress, transport: info.transport,
      protocolVersion: (client as { version?: number }).version ?? null, node: this.nodeId, at: new Date().toISOString()
    } })
  }

  private readonly disconnected = (client: Client): void => {
    if (!this.wanted()) return
    this.announce({ clientId: client.id, what: 'disconnected', body: { clientId: client.id, node: this.nodeId, at: new Date().toISOString() } })
  }

  /**
   * Someone may get a presence message: an event stream or a $SYS subscriber on this node, or
   * the other nodes. A connect burst with nobody listening builds none (they were ~7% of the
   * broker's busy time).
   */
  private wanted (): boolean {
    return this.fleet.sharePresence !== null || this.listenedHere()
  }

  private listenedHere (): boolean {
    return this.streams.size > 0 || this.sysListened()
  }

  private announce (m: PresenceMessage): void {
    this.publish(m)
    this.fleet.sharePresence?.(m)
  }

  private publish ({ clientId, what, body }: PresenceMessage): void {
    if (!this.listenedHere() || clientId.includes('+') || clientId.includes('#')) return
    this.broker.publish({ cmd: 'publish', topic: `${TOPIC_PREFIX}${clientId}/${what}`, payload: Buffer.from(JSON.stringify(body)), qos: 0, retain: false, dup: false }, () => {})
  }

  /** A presence message from the router (this node's, or another's republished here): to the event streams. */
  private relay (topic: string, payload: Buffer | string): void {
    if (this.streams.size === 0) return
    // $SYS/broker/clients/connected (the sys plugin's count) is not presence: an id level comes first.
    const rest = topic.slice(TOPIC_PREFIX.length)
    const slash = rest.lastIndexOf('/')
    const type = rest.slice(slash + 1)
    if (slash < 1 || (type !== 'connected' && type !== 'disconnected')) return
    try {
      const body = JSON.parse(payload.toString()) as unknown
      if (body !== null && typeof body === 'object' && 'clientId' in body) this.emit({ ...body, type })
    } catch {
      // Not ours: a malformed body must not end the stream.
    }
  }

  /** An admin action on this node (kick, ban, session deleted, publish, reload). */
  emit (event: FleetEvent): void {
    const text = `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`
    for (const res of this.streams) res.write(text)
  }

  /** GET /api/events: stays open; each event is `event: <type>` with a JSON `data:` line. */
  serve (req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
    res.write(`: fleet events from node ${this.nodeId}\n\n`)
    this.streams.add(res)
    req.on('close', () => this.streams.delete(res))
  }

  close (): void {
    clearInterval(this.keepalive)
    this.broker.removeListener('clientReady', this.connected)
    this.broker.removeListener('clientDisconnect', this.disconnected)
    this.broker.unsubscribe(TOPIC_PREFIX + '#', this.onPresence as never, () => {})
    for (const res of this.streams) res.end()
    this.streams.clear()
  }
}
