// Every use Swallow's protocol core (src/protocol/) makes of Aedes beyond its documented API,
// in one typed place, with a start-up check that each assumption holds for the installed
// version (aedes is pinned exactly in package.json for this reason).
//
// The protocol core keeps Aedes for what Aedes is good at: the persistence interface and its
// implementations, the router (broker.publish / subscribe / unsubscribe over mqemitter or
// src/cluster-emitter.ts), the hook slots and the events. What it relies on besides:
//  1. the client registry: broker.registerClient(client) closes a connected client with the
//     same id through client.close(done) and then records the new one (MQTT-3.1.4-2, also
//     across cluster nodes via Aedes's $SYS/<id>/new/clients handler, which calls close too);
//     broker.unregisterClient(client) removes it and emits 'clientDisconnect';
//  2. broker.clients[id] is that registry (a plain object), broker.connectedClients its
//     count, and registering emits 'client', unregistering 'clientDisconnect' (done by hand
//     when no other node needs Aedes's $SYS/<id>/new|disconnect/clients message);
//  3. a registered client has a `duplicates` object: Aedes's $SYS/<id>/birth handler deletes
//     entries of it when another node starts;
//  4. the publish route (src/protocol/route.ts) takes from Aedes what its broker.publish
//     uses: `broker.mq`, the router (mqemitter or src/cluster-emitter.ts), whose emit(packet,
//     cb) calls back once every listener has; `broker.published`, the published hook slot;
//     and aedes-packet's Packet(original, broker), which stamps broker.id and ++broker.counter
//     (one counter with Aedes's own publishes: the pair names a message in offline queues);
//  5. mqtt-packet's parser keeps the CONNECT packet it parsed as its `settings` for the life
//     of the connection (credentials included) and reads only protocolVersion from it;
//  6. aedes-packet keeps `properties` (the object whole: src/protocol/queued-at.ts keeps a key
//     of Swallow's own in the stored copy's) and `messageExpiry` on the packet it routes and stores,
//     so MQTT 5 properties reach subscribers, offline queues and other nodes (4.x does; the
//     3.x that aedes-persistence-level asks for does not: package.json overrides it);
//  7. mqtt-packet's parser reads every UTF-8 string through its `_parseString()` method, with
//     `_pos` at the string's 2-byte length and `_list.slice()` giving the raw bytes: wrapping
//     it is the only way to see the bytes before they are decoded (a decoded string has
//     U+FFFD where the bytes were not UTF-8, indistinguishable from a real U+FFFD);
//  8. the parser keeps unparsed bytes in `_list`, a `bl` BufferListStream (a whole Duplex
//     stream per connection) of which it uses only the BufferList methods: a plain
//     BufferList of the same `bl` saves ~0.5-0.9 KiB per connection (lightenParser); it reads
//     numbers from its first buffer (`getBuffers()[0]`) without slicing;
//  9. the three persistences reject a lookup of a packet id they do not hold
//     (incomingGetPacket, outgoingUpdate) with Error('no such packet'): an answer, not a
//     storage failure (test/faults/failing-persistence.test.ts tells the two apart).
import { isUtf8 } from 'node:buffer'
import { createRequire } from 'node:module'
import type { Aedes, Client } from 'aedes'
import mqttPacket from 'mqtt-packet'
import { StartupError } from './errors.js'

/** The persistence's rejection for a packet id it does not hold (item 9), not a storage failure. */
export const isNoSuchPacket = (err: unknown): boolean => err instanceof Error && err.message === 'no such packet'

/** What a client in Aedes's registry must offer (the protocol core's Connection does). */
export interface RegisteredClient {
  id: string
  closed: boolean
  /** The topic filters it holds, with their granted QoS. */
  readonly subscriptions: Readonly<Record<string, { qos: number }>>
  /** Aedes's birth handler (aedes 1.2 aedes.js) deletes per-node entries here. */
  duplicates: Record<string, unknown>
  close: (done?: () => void) => void
}

interface RegistryInternals {
  clients: Record<string, RegisteredClient | undefined>
  connectedClients: number
  registerClient: (client: RegisteredClient) => void
  unregisterClient: (client: RegisteredClient) => void
  emit: (event: string, client: RegisteredClient) => boolean
}

const registry = (broker: Aedes): RegistryInternals => broker as unknown as RegistryInternals

/**
 * Takes over a connected client with the same id (closing it), then records this one.
 * `announce`: through Aedes, which also publishes `$SYS/<broker id>/new/clients` (other
 * cluster nodes close their client of that id on it, item 1); without, the same registry
 * steps only (counter, record, 'client' event): one node with no `$SYS` subscriber gains
 * nothing from the message, and building and routing it was a connect's largest cost after
 * the socket's own.
 */
export function registerClient (broker: Aedes, client: RegisteredClient, announce: boolean): void {
  const r = registry(broker)
  if (announce) return r.registerClient(client)
  const record = (): void => {
    r.connectedClients++
    r.clients[client.id] = client
    r.emit('client', client)
  }
  const existing = r.clients[client.id]
  if (existing !== undefined) existing.close(record)
  else record()
}

/** Removes the client from the registry (if it is the one recorded) and emits 'clientDisconnect'; `announce` as for registerClient. */
export function unregisterClient (broker: Aedes, client: RegisteredClient, announce: boolean): void {
  const r = registry(broker)
  if (r.clients[client.id] !== client) return
  if (announce) return r.unregisterClient(client)
  r.connectedClients--
  delete r.clients[client.id]
  r.emit('clientDisconnect', client)
}

export function registeredClient (broker: Aedes, id: string): RegisteredClient | undefined {
  return registry(broker).clients[id]
}

/** Every connected client Aedes knows (both protocol paths register there). */
export function registeredClients (broker: Aedes): RegisteredClient[] {
  return Object.values(registry(broker).clients).filter((c): c is RegisteredClient => c !== undefined)
}

/**
 * The filters a client in a hook or event holds. Aedes's Client type has no subscriptions;
 * every client is a protocol-core Connection, which has them.
 */
export function subscriptionsOf (client: Client): Readonly<Record<string, { qos: number }>> {
  return (client as unknown as RegisteredClient).subscriptions
}

/** A protocol-core connection where Aedes's hooks and events expect their Client (it has the fields plugins read: id, conn, req, clean, version, closed, close). */
export function asAedesClient (client: RegisteredClient): Client {
  return client as unknown as Client
}

/** The broker's hook slots (src/hooks.ts composes them), typed with the protocol core's packets. */
export function hookSlots<T> (broker: Aedes): T {
  return broker as unknown as T
}

interface PublishInternals {
  mq: { emit: (packet: object, done: () => void) => void }
  published: (packet: object, client: Client | null, done: (err?: Error | null) => void) => void
}

const ownRequire = createRequire(import.meta.url)
/** The aedes-packet Aedes itself resolves (package.json's overrides keep one version for all). */
const AedesPacket = createRequire(ownRequire.resolve('aedes'))('aedes-packet') as new (original: object, broker: unknown) => object

/** The message as Aedes routes and stores it: a copy with brokerId and brokerCounter. */
export function stampedPacket<T extends object> (broker: Aedes, message: T): T {
  return new AedesPacket(message, broker) as T
}

/** The broker's router: emit(packet, cb) hands the packet to every matching listener, here and on other nodes. */
export function routerOf (broker: Aedes): PublishInternals['mq'] {
  return (broker as unknown as PublishInternals).mq
}

/** The published hook as src/hooks.ts composed it into the broker's slot. */
export function publishedHook (broker: Aedes): PublishInternals['published'] {
  return (broker as unknown as PublishInternals).published
}

/** After CONNECT: the parser keeps a shared two-field object instead of the CONNECT packet. */
export function forgetConnectPacket (parser: object, protocolVersion: number): void {
  (parser as { settings: object }).settings = parserSettings[protocolVersion] ?? { protocolVersion }
}

interface ParserStrings {
  _pos: number
  _list: { slice: (start: number, end: number) => Buffer }
  _parseString: (maybeBuffer?: boolean) => string | null
  _emitError: (err: Error) => void
}

const checkedParsers = new WeakSet<object>()

/**
 * Every UTF-8 string the parser reads (topics, client ids, user names, properties) must be
 * well-formed and free of U+0000 (MQTT-1.5.3-1, MQTT-1.5.3-2; MQTT 5 1.5.4): otherwise the
 * parser reports an error. Installed once on the parser class, for the protocol core's parsers only.
 */
export function checkParsedStrings (parser: object): void {
  (parser as { _swallowChecked?: boolean })._swallowChecked = true
  const proto = Object.getPrototypeOf(parser) as ParserStrings & { _swallowChecked?: boolean }
  if (checkedParsers.has(proto)) return
  checkedParsers.add(proto)
  const parseString = proto._parseString
  proto._parseString = function checkedParseString (this: ParserStrings & { _swallowChecked?: boolean }, maybeBuffer) {
    const start = this._pos + 2 // after the 2-byte length
    const result = parseString.call(this, maybeBuffer)
    if (result !== null && this._pos > start && this._swallowChecked === true) {
      const bytes = this._list.slice(start, this._pos)
      if (!isUtf8(bytes) || bytes.includes(0)) {
        this._emitError(Object.assign(new Error('malformed UTF-8 string: invalid encoding or U+0000 (MQTT-1.5.3-1, MQTT-1.5.3-2)'), { malformedString: true }))
        return null
      }
    }
    return result
  }
}

// The `bl` that mqtt-packet's parser was written against.
declare class PlainBufferList {
  getBuffers (): Buffer[]
  readUInt8 (offset?: number): number
  readUInt16BE (offset?: number): number
  readUInt32BE (offset?: number): number
}
const BufferList = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'))('bl/BufferList.js') as typeof PlainBufferList
const LIST_METHODS = ['append', 'consume', 'getBuffers', 'readUInt8', 'readUInt16BE', 'readUInt32BE', 'slice', 'toString']
const plainListUsable = LIST_METHODS.every(method => typeof (BufferList.prototype as unknown as Record<string, unknown>)[method] === 'function')

/**
 * bl reads a number by slicing a new Buffer for it (~3% of the broker's busy time in a
 * fan-in profile, with its garbage); mqtt-packet reads the fixed header and every length
 * that way. Read straight from the first buffer when the number lies in it.
 */
class ParserBufferList extends BufferList {
  override readUInt8 (offset = 0): number {
    const first = this.getBuffers()[0]
    return first !== undefined && offset < first.length ? first[offset] : super.readUInt8(offset)
  }

  override readUInt16BE (offset = 0): number {
    const first = this.getBuffers()[0]
    return first !== undefined && offset + 2 <= first.length ? first.readUInt16BE(offset) : super.readUInt16BE(offset)
  }

  override readUInt32BE (offset = 0): number {
    const first = this.getBuffers()[0]
    return first !== undefined && offset + 4 <= first.length ? first.readUInt32BE(offset) : super.readUInt32BE(offset)
  }
}

/** Before the first byte is parsed: the parser buffers in a plain BufferList (item 8). */
export function lightenParser (parser: object): void {
  if (plainListUsable) (parser as { _list: unknown })._list = new ParserBufferList()
}

const parserSettings: Record<number, object> = {
  3: Object.freeze({ protocolVersion: 3 }),
  4: Object.freeze({ protocolVersion: 4 }),
  5: Object.freeze({ protocolVersion: 5 })
}

/**
 * Fails start-up with one line when an assumption above does not hold (an Aedes upgrade
 * changed it): better than MQTT 5 properties silently vanishing or takeovers not happening.
 */
export function checkAedesSeam (broker: Aedes): void {
  const internals = registry(broker)
  const problems: string[] = []
  if (typeof internals.registerClient !== 'function') problems.push('broker.registerClient is missing')
  if (typeof internals.unregisterClient !== 'function') problems.push('broker.unregisterClient is missing')
  if (typeof internals.clients !== 'object' || internals.clients === null) problems.push('broker.clients is not an object')
  if (typeof routerOf(broker)?.emit !== 'function') problems.push('broker.mq has no emit')
  const probeParser = Object.getPrototypeOf(mqttPacket.parser({})) as Partial<ParserStrings>
  if (typeof probeParser._parseString !== 'function' || typeof probeParser._emitError !== 'function') problems.push('mqtt-packet\'s parser has no _parseString/_emitError')
  // Aedes and each persistence wrap packets in the aedes-packet they resolve (package.json's
  // overrides gives aedes-persistence-level the version that keeps properties).
  for (const owner of ['aedes', 'aedes-persistence', 'aedes-persistence-level']) {
    const PacketClass = createRequire(ownRequire.resolve(owner))('aedes-packet') as new (original: object, broker: unknown) => Record<string, unknown>
    const probe = new PacketClass({ cmd: 'publish', topic: 't', payload: Buffer.alloc(0), qos: 1, properties: { contentType: 'x' }, messageExpiry: 1 }, broker)
    if ((probe.properties as { contentType?: string } | undefined)?.contentType !== 'x' || probe.messageExpiry !== 1) {
      problems.push(`the aedes-packet of ${owner} drops MQTT 5 properties`)
    }
  }
  if (problems.length > 0) {
    throw new StartupError(`installed aedes does not match what Swallow's protocol core relies on (${problems.join('; ')}); reinstall the exact versions in package.json with npm ci`)
  }
}

