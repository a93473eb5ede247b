// One Connection per socket (TCP, TLS or WebSocket stream): reads and parses packets, hands
// each to its handler (src/protocol/handlers/, one file per packet type) one at a time, and
// writes packets (batched: one write system call per socket per event-loop turn). Its fields
// are the session state of the protocol: identity, keep alive, subscriptions, the outbound
// window (outbound.ts), inbound QoS 2 ids and topic aliases.
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import mqttPacket, { type Packet } from 'mqtt-packet'
import type { Client } from 'aedes'
import { asAedesClient, checkParsedStrings, forgetConnectPacket, lightenParser, registerClient, unregisterClient, type RegisteredClient } from '../aedes-seam.js'
import type { Core } from './core.js'
import { Inbox, type HandlerDone, type InboxHost } from './inbox.js'
import { Outbound, type Overflow } from './outbound.js'
import { connectLevel, PacketSizeGuard } from './packet-size.js'
import { PartialPacketWatch } from './partial-packets.js'
import { packetViolation } from './packet-rules.js'
import { ACK_TYPES, encodeAck, encodePublish } from './publish-bytes.js'
import { ReasonCode } from './reason-codes.js'
import type { OutboundAliases } from './topic-aliases.js'
import { deliverRouted } from './deliver.js'
import { handlePacket } from './handlers/index.js'
import { endSession, readUnsent, unrouteFrom } from './session.js'
import { ClientWarnings } from './client-warnings.js'
import { endExchange, type PendingExchange } from './extended-auth.js'
import type { OutgoingPublish, RoutedPacket, Subscription } from './types.js'

export type Transport = 'tcp' | 'tls' | 'ws' | 'wss'

// mqtt-packet builds 65,536 two-byte Buffers (6 MB of heap) on its first generate() to write
// packet ids faster (its README's writeToStream.cacheNumbers); the core encodes its frequent
// packets by hand, so the cache would cost the memory and save nothing.
mqttPacket.writeToStream.cacheNumbers = false

/** An error that ends a connection, with the MQTT 5 reason code to tell the client. */
export class ProtocolError extends Error {
  /** Counted as a protocol error (src/observe.ts). */
  readonly protocolError = true
  constructor (message: string, readonly reasonCode: number = ReasonCode.protocolError) {
    super(message)
  }
}

export interface WillMessage extends RoutedPacket {
  /** MQTT 5 Will Delay Interval, seconds. */
  delay: number
}

export class Connection implements RegisteredClient, InboxHost {
  id = ''
  /** CONNECT's User Name. */
  username: string | undefined = undefined
  /** 3 (MQTT 3.1), 4 (3.1.1) or 5, from CONNECT. */
  version = 0
  /** Nothing of this session is stored: its in-flight state lives in this object only. */
  clean = true
  /** Seconds the session outlives the connection (MQTT 5; 3.1.1 persistent: forever), capped by --max-session-expiry. */
  sessionExpiry = 0
  /** What the CONNECT asked for, before the cap. */
  sessionExpiryAsked = 0
  will: WillMessage | null = null
  connecting = false
  connected = false
  closed = false
  /** DISCONNECT received: the will is not published (unless MQTT 5 reason 0x04). */
  disconnected = false
  /** Closed because a new connection with this client id took the session over. */
  takenOver = false
  /**
   * Granted subscriptions by filter (change them with setSubscription / deleteSubscription).
   * A dictionary (~184 bytes) made with the first one: a device that only publishes has none.
   */
  private subscriptionsByFilter: Record<string, Subscription> = NO_SUBSCRIPTIONS
  /** The same as an array, for the per-message match (for-in over a dictionary allocates). */
  private subscriptionArray: Subscription[] | null = null
  /** Aedes's registry contract (src/aedes-seam.ts): only ever read or deleted from, so one object serves all. */
  readonly duplicates: Record<string, unknown> = NO_DUPLICATES
  lastPacketAt = Date.now()
  keepaliveMs = 0
  /** Date.now() at CONNACK (0 before). */
  connectedAt = 0
  /** Traffic of this connection, for the admin API (plain counters: one increment per packet or chunk). */
  messagesIn = 0
  messagesOut = 0
  bytesIn = 0
  bytesOut = 0
  readonly outbound: Outbound
  /** QoS 2 PUBLISHes of a clean session answered with PUBREC, waiting for PUBREL (created with the first). */
  incomingQoS2: Set<number> | null = null
  /** QoS 1/2 PUBLISHes received and not yet fully acknowledged (MQTT 5 Receive Maximum). */
  unacknowledgedIn = 0
  /** Inbound topic aliases the client set (handlers/publish.ts; created with the first). */
  topicAliases: Map<number, string> | null = null
  /** Aliases the broker assigns to topics it sends, when the client allows them (MQTT 5 Topic Alias Maximum). */
  aliasesOut: OutboundAliases | null = null
  /** The client's MQTT 5 Maximum Packet Size. */
  maxPacketSizeOut = Infinity
  /** The MQTT 5 Authentication Method the CONNECT named (extended authentication), or null. */
  authMethod: string | null = null
  /** An AUTH exchange in progress (extended-auth.ts). */
  authExchange: PendingExchange | null = null
  /** MQTT 5 Request Problem Information: reason strings allowed beyond CONNACK/DISCONNECT. */
  problemInformation = true
  /** The last message the router handed over: one message matching several subscriptions arrives once per subscription. */
  lastRouted: object | null = null
  /** While a SUBSCRIBE's retained messages are pending: topics delivered live since it began (deliver.ts). */
  retainedWindow: { topics: Set<string>, open: number } | null = null
  /** The router's listener for this connection's subscriptions. */
  readonly deliver = (packet: RoutedPacket, cb: () => void): void => deliverRouted(this, packet, cb)

  readonly persistence
  private readonly parser = mqttPacket.parser({})
  private readonly sizeGuard: PacketSizeGuard
  private readonly inbox = new Inbox(this)
  private flushScheduled = false
  /** The unfinished packet this connection holds (partial-packets.ts). */
  private readonly partial: PartialPacketWatch
  private connectTimer: NodeJS.Timeout | null
  /** What was logged about this client (made with the first warning). */
  private warningsMade: ClientWarnings | null = null

  constructor (readonly core: Core, readonly conn: Duplex, readonly req: IncomingMessage | undefined, readonly transport: Transport, readonly remoteAddress: string) {
    this.persistence = core.persistence
    this.sizeGuard = new PacketSizeGuard(core.limits.maxPacketSize)
    this.partial = new PartialPacketWatch(core.partials, held => {
      this.fail(new ProtocolError(`partial packet: ${held} bytes of a packet stayed unfinished for --partial-packet-timeout (${core.partials.limits.partialPacketTimeout} ms)`))
    })
    this.outbound = new Outbound(this, core.limits, core.limits.maxInflight)
    checkParsedStrings(this.parser)
    lightenParser(this.parser)
    this.parser.on('packet', packet => this.receive(packet))
    this.parser.on('error', err => this.parseFailed(err))
    conn.on('data', chunk => this.read(chunk as Buffer))
    conn.on('error', err => this.fail(err))
    const ended = (): void => this.shutdown()
    conn.on('end', ended)
    conn.on('close', ended)
    this.connectTimer = setTimeout(() => this.fail(new Error('connect did not arrive in time')), core.limits.connectTimeout)
  }

  /** Shutdown: read no more packets (the ones being handled finish). */
  pause (): void {
    this.inbox.stop()
    this.conn.pause()
  }

  /** As Aedes's Client, for the hooks and events plugins listen to. */
  get asClient (): Client {
    return asAedesClient(this)
  }

  private read (chunk: Buffer): void {
    if (this.closed) return
    this.lastPacketAt = Date.now()
    this.bytesIn += chunk.length
    const tooLarge = this.sizeGuard.check(chunk)
    if (tooLarge === null) this.trackPartial()
    if (this.closed) return
    if (tooLarge !== null) {
      if (!this.connecting && !this.connected && connectLevel(chunk) === 5) this.writeBytes(CONNECT_TOO_LARGE_CONNACK)
      return this.fail(new ProtocolError(`packet too large: ${tooLarge} bytes (limit --max-packet-size ${this.core.limits.maxPacketSize})`, ReasonCode.packetTooLarge))
    }
    this.parser.parse(chunk)
  }

  /** The bytes of an unfinished packet this connection holds, against the broker-wide limit (partial-packets.ts). */
  private trackPartial (): void {
    const held = this.sizeGuard.partialBytes
    if (this.partial.update(held, this.sizeGuard.packetNumber)) return
    this.fail(new ProtocolError(`unfinished packets of all clients exceed --max-buffered-bytes (${this.core.partials.limits.maxBufferedBytes} bytes); this client's ${held}-byte packet was not finished`, ReasonCode.quotaExceeded))
  }

  private parseFailed (err: Error): void {
    // MQTT-3.1.2-2: an unsupported protocol level gets CONNACK 0x01 (3.1.1's encoding, which
    // every version reads) before the connection closes.
    if (err.message === 'Invalid protocol version' && !this.connecting && !this.connected) this.writeBytes(UNSUPPORTED_PROTOCOL_CONNACK)
    this.fail(new ProtocolError(err.message, ReasonCode.malformedPacket))
  }

  private receive (packet: Packet): void {
    if (this.closed) return
    const violation = packetViolation(packet)
    if (violation !== null) return this.fail(new ProtocolError(violation, ReasonCode.protocolError))
    this.inbox.push(packet)
  }

  // InboxHost: the inbox (inbox.ts) hands each packet to its handler, in its order.
  handle (packet: Packet, done: HandlerDone): void {
    handlePacket(this, packet, done)
  }

  pauseReading (): void {
    this.conn.pause()
  }

  resumeReading (): void {
    this.conn.resume()
  }

  connectArrived (): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer)
    this.connectTimer = null
    forgetConnectPacket(this.parser, this.version)
  }

  /** CONNACK sent: the session is live. */
  register (): void {
    this.connectedAt = Date.now()
    registerClient(this.core.broker, this, this.core.announceClients())
  }

  get subscriptions (): Readonly<Record<string, Subscription>> {
    return this.subscriptionsByFilter
  }

  setSubscription (sub: Subscription): void {
    if (this.subscriptionsByFilter === NO_SUBSCRIPTIONS) this.subscriptionsByFilter = Object.create(null)
    // Counted while the connection is open; shutdown() counts its subscriptions out.
    if (!this.closed && !(sub.topic in this.subscriptionsByFilter)) this.core.sysListeners.added(sub.topic)
    this.subscriptionsByFilter[sub.topic] = sub
    this.subscriptionArray = null
  }

  deleteSubscription (filter: string): void {
    if (!(filter in this.subscriptionsByFilter)) return
    if (!this.closed) this.core.sysListeners.removed(filter)
    delete this.subscriptionsByFilter[filter]
    this.subscriptionArray = null
  }

  get subscriptionList (): readonly Subscription[] {
    return (this.subscriptionArray ??= Object.values(this.subscriptions))
  }

  private get warnings (): ClientWarnings {
    return (this.warningsMade ??= new ClientWarnings(this.core.log, this.core.metrics, this.id))
  }

  /** Logs a warning about this client the first time only. */
  warnOnce (message: string, fields: object): void {
    this.warnings.warnOnce(message, fields)
  }

  /**
   * A storage operation for this client failed where the protocol goes on without it (the
   * operation's cost is a repeat, said in `consequence`): one warning per client and
   * operation; swallow_storage_errors_total counts them all.
   */
  storageFailed (operation: string, err: unknown, consequence: string): void {
    this.warnings.storageFailed(operation, err, consequence)
  }

  authTimedOut (): void {
    this.fail(new ProtocolError(`the authentication exchange did not finish within --connect-timeout (${this.core.limits.connectTimeout} ms)`, ReasonCode.notAuthorized))
  }

  keepaliveExpired (): void {
    this.core.broker.emit('keepaliveTimeout', this.asClient)
    this.fail(new ProtocolError('keep alive timeout', ReasonCode.keepAliveTimeout))
  }

  // --- writing -----------------------------------------------------------------------

  /** Encodes and writes a packet (a Buffer: already encoded); false if it was not sent. */
  writePacket (packet: object | Buffer): boolean {
    if (this.conn.destroyed) return false
    const bytes = Buffer.isBuffer(packet) ? packet : this.encode(packet as Packet)
    if (bytes.length > this.maxPacketSizeOut) {
      this.aliasesOut?.dropped()
      this.core.metrics.dropped.inc({ reason: 'packet_too_large' })
      this.warnOnce('message not sent: larger than the client\'s Maximum Packet Size (further drops for this client are counted, not logged)', { bytes: bytes.length, limit: this.maxPacketSizeOut })
      return false
    }
    this.aliasesOut?.written()
    this.writeBytes(bytes)
    return true
  }

  private encode (packet: Packet): Buffer {
    const ack = ACK_TYPES[packet.cmd]
    // A successful acknowledgement is 4 bytes in every version (MQTT 5 3.4.2.1: the reason
    // code and properties may be omitted); mqtt-packet writes 6 for MQTT 5.
    if (ack !== undefined && (packet as { reasonCode?: number }).reasonCode === undefined && (packet as { properties?: object }).properties === undefined) {
      return encodeAck(ack, (packet as { messageId: number }).messageId)
    }
    if (packet.cmd !== 'publish' || typeof packet.topic !== 'string') return mqttPacket.generate(packet, { protocolVersion: this.version })
    const { alias, known } = this.aliasesOut?.aliasFor(packet.topic) ?? NO_ALIAS
    const topic = known ? '' : packet.topic
    if (packet.properties !== undefined) {
      const aliased = alias === 0 ? packet : { ...packet, topic, properties: { ...packet.properties, topicAlias: alias } }
      return mqttPacket.generate(aliased, { protocolVersion: this.version })
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
    return encodePublish(topic, payload, packet.qos, packet.retain, packet.dup, packet.messageId ?? 0, this.version === 5, alias)
  }

  writeBytes (bytes: Buffer): void {
    // Sockets only: a WebSocket stream frames every write itself.
    if (!this.flushScheduled && (this.transport === 'tcp' || this.transport === 'tls')) {
      this.flushScheduled = true
      this.conn.cork()
      setImmediate(flush, this)
    }
    this.bytesOut += bytes.length
    this.conn.write(bytes)
  }

  flushWrites (): void {
    this.flushScheduled = false
    while (this.conn.writableCorked > 0) this.conn.uncork()
  }

  socketBacklog (): number {
    return this.conn.writableLength
  }

  whenDrained (cb: () => void): void {
    this.conn.once('drain', cb)
  }

  // --- outbound events (OutboundHost) ------------------------------------------------

  tooSlow (): void {
    this.fail(new ProtocolError(`slow client: its queue was full and it acknowledged nothing for --slow-client-timeout (${this.core.limits.slowClientTimeout} ms)`, ReasonCode.quotaExceeded))
  }

  readUnsent (limit: number, skip: ReadonlySet<string>, spareId: () => number): Promise<OutgoingPublish[]> {
    return readUnsent(this, limit, skip, spareId)
  }

  queueFull (firstOfEpisode: boolean, inflight: number, queued: number, overflow: Overflow): void {
    this.warnings.queueFull(firstOfEpisode, inflight, queued, overflow)
  }

  caughtUp (): void {
    this.warningsMade?.caughtUp()
  }

  droppedQoS0 (firstOfEpisode: boolean): void {
    this.core.metrics.dropped.inc({ reason: 'qos0_queue_full' })
    if (firstOfEpisode) this.core.log.warn({ clientId: this.id, queuedBytes: this.conn.writableLength }, 'client reads too slowly: dropping QoS 0 messages to it (--max-queued-bytes)')
  }

  // --- ending ------------------------------------------------------------------------

  /**
   * Ends the connection because of an error: MQTT 5 clients past CONNECT get a DISCONNECT
   * with the reason code first. One log line (src/observe.ts listens to these events).
   */
  fail (err: Error): void {
    if (this.closed) return
    if (this.connected && this.version === 5) {
      const reasonCode = err instanceof ProtocolError ? err.reasonCode : ReasonCode.unspecifiedError
      this.writePacket({ cmd: 'disconnect', reasonCode, ...(this.problemInformation ? { properties: { reasonString: err.message } } : {}) })
    }
    this.core.broker.emit(this.id ? 'clientError' : 'connectionError', this.asClient, err)
    this.shutdown()
  }

  /**
   * Closes the connection; `done` runs when it is closed. Aedes's registry calls it with a
   * callback when another connection takes this client id over, here or on another cluster
   * node (src/aedes-seam.ts): an MQTT 5 client is told so (DISCONNECT 0x8E) first.
   */
  close (done?: () => void): void {
    if (this.closed) {
      done?.()
      return
    }
    if (done !== undefined) this.takenOver = true
    if (done !== undefined && this.connected && this.version === 5) this.writePacket({ cmd: 'disconnect', reasonCode: ReasonCode.sessionTakenOver })
    this.shutdown()
    done?.()
  }

  /** Ends the connection and what it holds in the broker (subscriptions, registration, will, a session that ends with it). */
  private shutdown (): void {
    if (this.closed) return
    this.closed = true
    const wasConnected = this.connected
    this.connected = false
    this.connecting = false
    if (this.connectTimer !== null) clearTimeout(this.connectTimer)
    this.partial.end()
    endExchange(this, true)
    // A persistent session that outlives this connection stays a member of its shared groups.
    const sessionStays = !this.clean && this.sessionExpiry > 0 && !this.takenOver
    for (const filter in this.subscriptions) {
      this.core.sysListeners.removed(filter)
      unrouteFrom(this, filter, sessionStays)
    }
    this.core.shared.redispatch(this, this.outbound.close())
    endSession(this, wasConnected)
    if (wasConnected) unregisterClient(this.core.broker, this, this.core.announceClients())
    this.flushWrites()
    this.conn.end()
    this.conn.destroy()
  }

  /** Closes a connection the broker ends on purpose (MQTT 5: DISCONNECT with this reason first). */
  disconnect (reasonCode: number): void {
    if (!this.closed && this.connected && this.version === 5) this.writePacket({ cmd: 'disconnect', reasonCode })
    this.shutdown()
  }
}

const NO_ALIAS = { alias: 0, known: false }
const NO_DUPLICATES: Record<string, unknown> = Object.create(null)
/** Every connection's subscriptions until its first one (frozen: a write to it would be a bug). */
const NO_SUBSCRIPTIONS: Record<string, Subscription> = Object.freeze(Object.create(null))

const UNSUPPORTED_PROTOCOL_CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x01])
/** MQTT 5 CONNACK 0x95 (packet too large), no properties. */
const CONNECT_TOO_LARGE_CONNACK = Buffer.from([0x20, 0x03, 0x00, 0x95, 0x00])

function flush (conn: Connection): void {
  conn.flushWrites()
}

