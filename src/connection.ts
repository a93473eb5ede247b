// What happens to every new connection, whatever the transport: MQTT 5 goes to the protocol
// core (src/protocol/); MQTT 3.1/3.1.1 to Aedes, whose client is then adjusted where
// Swallow's guarantees differ from it (until 3.1.1 moves to the protocol core as well).
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Aedes, Client, ConnectPacket, PublishPacket } from 'aedes'
import type { CleanConnect, ConnectingClient } from './clean-connect.js'
import { acknowledgesLiveDelivery } from './clean-sessions.js'
import { guardParser, packetViolation, type ParserInternals } from './packet-checks.js'
import { useLightParserBuffer } from './parser-buffer.js'
import type { Traffic } from './traffic.js'
import { Connection, type Transport } from './protocol/connection.js'
import type { Core } from './protocol/core.js'
import { routeByProtocolLevel } from './protocol/route-by-version.js'

export type { Transport }
export type ConnectionHandler = (stream: Duplex, socket: Socket, req: IncomingMessage | undefined, transport: Transport) => void

export interface ConnectionInfo {
  transport: Transport
  remoteAddress: string
  /** Set once the client has sent CONNECT. */
  username?: string
}

const info = new WeakMap<Client, ConnectionInfo>()

export function connectionInfo (client: Client): ConnectionInfo {
  let found = info.get(client)
  if (!found) {
    found = { transport: 'tcp', remoteAddress: 'unknown' }
    info.set(client, found)
  }
  return found
}

// The Aedes client internals this module touches (aedes 1.2, lib/client.js).
interface ClientInternals {
  _parser: ParserWithListeners
  _parsingBatch: number
  connecting: boolean
  connected: boolean
  _nextBatch: (err?: Error | null) => void
  _keepaliveInterval: number
  _keepaliveTimer: NodeJS.Timeout | null
  connackSent: boolean
  errored: boolean
  waitForDrain: (cb: (err?: Error | null) => void) => void
  /** stream.finished()'s cleanup function (lib/client.js). */
  _eos: () => void
  close: () => void
}

type ParserWithListeners = ParserInternals & {
  settings: ParserSettings
  listeners: (event: 'packet') => Array<(packet: unknown) => void>
  removeListener: (event: 'packet', fn: (packet: unknown) => void) => void
  on: (event: 'packet', fn: (packet: unknown) => void) => void
}

export interface ConnectionOptions {
  maxPacketSize: number
  connectTimeout: number
  cleanConnect: CleanConnect
  /** The protocol core, for MQTT 5 connections (src/protocol/). */
  core: Core
}

export function createConnectionHandler (broker: Aedes, opts: ConnectionOptions, traffic: Traffic, onClient: (client: Client) => void): ConnectionHandler {
  return function onConnection (stream, socket, req, transport) {
    traffic.track(socket)
    const remoteAddress = socket.remoteAddress ?? 'unknown'
    routeByProtocolLevel(stream, opts.connectTimeout, level => {
      if (level === 5) {
        const conn = new Connection(opts.core, stream, req, transport, remoteAddress)
        info.set(conn.asClient, { transport, remoteAddress })
      } else {
        handOverToAedes(broker, opts, stream, req, transport, remoteAddress, onClient)
      }
    })
  }
}

function handOverToAedes (broker: Aedes, opts: ConnectionOptions, stream: Duplex, req: IncomingMessage | undefined, transport: Transport,
  remoteAddress: string, onClient: (client: Client) => void): void {
  const client = broker.handle(stream, req)
  info.set(client, { transport, remoteAddress })
  onClient(client)
  const internals = client as unknown as ClientInternals
  closeOnlyOnClose(internals, stream)
  // Sockets only: a WebSocket stream frames every write itself, and its destroy does not
  // wait for what an uncork just handed to it (a refusing CONNACK would be lost).
  if (transport === 'tcp' || transport === 'tls') batchWrites(stream)
  useLightParserBuffer(internals._parser as unknown as { _list: unknown })
  guardParser(internals._parser, { maxPacketSize: opts.maxPacketSize, conn: stream, session: internals })
  routePackets(broker, internals, opts.cleanConnect)
}

/**
 * Aedes watches each connection with stream.finished(), which keeps seven listeners and
 * their closures per connection (~0.5 KiB of heap) to learn that it ended; 'end' and 'error'
 * already close the client through Aedes's own listeners, so a single 'close' listener does.
 */
function closeOnlyOnClose (client: ClientInternals, conn: Duplex): void {
  client._eos()
  client._eos = noop
  conn.once('close', () => { client.close() })
}

function noop (): void {}

/**
 * One write system call per connection per event-loop turn instead of one per packet.
 * mqtt-packet corks the socket for each packet it writes and uncorks it on the next tick;
 * Aedes writes each delivery from its own setImmediate, so every packet became a writev
 * (45% of the broker's busy time in the 1->1 benchmark). Here the uncork is deferred to
 * the next check phase, so all packets written until then leave together.
 */
const FLUSH_BYTES = 64 * 1024

// Shared by every connection (no closures per connection): the state is one flag on the stream.
interface BatchedConn extends Duplex { _swallowFlushScheduled?: boolean }

function batchWrites (conn: Duplex): void {
  conn.uncork = deferredUncork
  // A CONNACK with an error code, or the last packets before a close, must leave first.
  conn.destroy = flushThenDestroy
}

function flush (conn: BatchedConn): void {
  conn._swallowFlushScheduled = false
  const uncork = Object.getPrototypeOf(conn).uncork as () => void
  while (conn.writableCorked > 0) uncork.call(conn)
}

function deferredUncork (this: BatchedConn): void {
  // Enough for one write already (libuv reads up to 32 x 64 KiB in one turn): send now.
  if (this.writableLength >= FLUSH_BYTES) return flush(this)
  if (this._swallowFlushScheduled === true) return
  this._swallowFlushScheduled = true
  setImmediate(flush, this)
}

function flushThenDestroy (this: BatchedConn, err?: Error): BatchedConn {
  flush(this)
  const destroy = Object.getPrototypeOf(this).destroy as (err?: Error) => BatchedConn
  return destroy.call(this, err)
}

/**
 * Every parsed packet passes here first. Packets that break a rule mqtt-packet does not
 * check close the connection (src/packet-checks.ts). Then, QoS 1 PUBLISH: Aedes 1.2
 * writes its PUBACK before it stores the message in the offline queues of persistent
 * sessions, so a crash in between loses an acknowledged message; Swallow runs it as
 * authorize -> publish (retained, offline queues, routing) -> PUBACK instead. A clean
 * session's CONNECT runs as src/clean-connect.ts, and its PUBACK/PUBCOMP of a live delivery
 * skips the storage (src/clean-sessions.ts). Everything else goes through Aedes unchanged.
 */
function routePackets (broker: Aedes, client: ClientInternals, cleanConnect: CleanConnect): void {
  const parser = client._parser
  const aedesEnqueue = parser.listeners('packet')[0]
  parser.removeListener('packet', aedesEnqueue)
  parser.on('packet', function onPacket (this: ParserWithListeners, packet: unknown) {
    const p = packet as PublishPacket
    const violation = packetViolation(p)
    if (violation) {
      this._emitError(new Error(violation))
      return
    }
    const cmd = (packet as { cmd: string }).cmd
    if (cmd === 'connect') this.settings = parserSettings(packet as ConnectPacket)
    if (cmd === 'publish' && p.qos === 1 && client.connackSent) {
      client._parsingBatch++
      if (client._keepaliveInterval > 0) client._keepaliveTimer?.refresh()
      publishQoS1(broker, client, p)
    } else if ((cmd === 'puback' || cmd === 'pubcomp') && client.connackSent && acknowledgesLiveDelivery(client, p.messageId ?? 0)) {
      // Aedes's handlePuback for a delivery nothing was stored for: a storage call that
      // resolves to nothing, then the 'ack' event (flow control frees the in-flight slot).
      if (client._keepaliveInterval > 0) client._keepaliveTimer?.refresh()
      broker.emit('ack', undefined, client)
    } else if (cmd === 'connect' && client._parsingBatch === 0 && !client.connecting && !client.connected &&
        cleanConnect.applies(packet as ConnectPacket)) {
      // Where Aedes would run its handleConnect (the first packet; lib/client.js enqueue).
      client._parsingBatch++
      cleanConnect.run(client as unknown as ConnectingClient, packet as ConnectPacket, client._nextBatch)
    } else {
      aedesEnqueue.call(this, packet)
    }
  })
}

// mqtt-packet's parser keeps the whole CONNECT packet (client id, credentials, will) as its
// settings for the rest of the connection, and reads only these two fields of it.
interface ParserSettings { protocolVersion?: number, bridgeMode?: boolean }
const sharedSettings = new Map<string, ParserSettings>()

function parserSettings (connect: ConnectPacket & { bridgeMode?: boolean }): ParserSettings {
  const key = `${connect.protocolVersion}/${connect.bridgeMode === true}`
  let settings = sharedSettings.get(key)
  if (settings === undefined) sharedSettings.set(key, settings = Object.freeze({ protocolVersion: connect.protocolVersion, bridgeMode: connect.bridgeMode }))
  return settings
}

function publishQoS1 (broker: Aedes, client: ClientInternals, packet: PublishPacket): void {
  const next = client._nextBatch
  const invalid = invalidPublishTopic(packet.topic)
  if (invalid) return next(new Error(invalid))
  const aedesClient = client as unknown as Client
  const publish = broker.publish as unknown as (p: PublishPacket, c: Client, cb: (err?: Error) => void) => void
  broker.authorizePublish(aedesClient, packet, err => {
    if (err) return next(err)
    publish.call(broker, packet, aedesClient, err => {
      if (err) return next(err)
      writePuback(client, packet.messageId ?? 0, next)
    })
  })
}

// The same checks Aedes applies to PUBLISH topics (lib/handlers/publish.js).
function invalidPublishTopic (topic: string): string | null {
  if (topic.length === 0) return 'empty topic not allowed in PUBLISH'
  if (topic.includes('#')) return '# is not allowed in PUBLISH'
  if (topic.includes('+')) return '+ is not allowed in PUBLISH'
  let levels = 1
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 47) levels++
  if (levels > 100) return 'topic has too many levels'
  return null
}

function writePuback (client: ClientInternals, messageId: number, done: (err?: Error | null) => void): void {
  if (!client.connected && !client.connecting) {
    setImmediate(done, new Error('connection closed'))
    return
  }
  const conn = (client as unknown as Client).conn
  conn.cork() // flushed with everything else written this turn (batchWrites)
  const flushed = conn.write(Buffer.from([0x40, 0x02, messageId >> 8, messageId & 0xff]))
  conn.uncork()
  if (!flushed && !client.errored) client.waitForDrain(done)
  else setImmediate(done)
}
