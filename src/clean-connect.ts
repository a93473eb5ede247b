// CONNECT of a clean session (CleanSession=1), as straight-line code instead of Aedes's
// handleConnect (aedes 1.2, lib/handlers/connect.js).
//
// Aedes runs every CONNECT through a ten-step series and ends it by streaming the session's
// offline queue through a stream `pipeline()`, whose AbortController is aborted (with a
// DOMException and its stack trace) when the empty stream ends. In the idle-10k benchmark
// that pipeline alone was ~11% of the broker's busy time, and a clean session never has a
// queue to replay: at most one left by an earlier persistent session of the same id, which
// is dropped, not sent (MQTT-3.1.2-6). Here the same steps run in the same order, the
// storage ones only when the storage may hold something for the id (src/session-index.ts
// answers that for embedded storage; other kinds always run them), and no stream is
// created when there is nothing to drop.
//
// Persistent sessions, and CONNECTs that Aedes refuses before authentication (protocol
// version, MQTT 3.1 id length, keepalive limit), keep Aedes's handler.
import { randomUUID } from 'node:crypto'
import type { Aedes, AuthenticateError, Client, ConnectPacket } from 'aedes'
import type { StoredSessions } from './session-index.js'

// The Aedes client internals a CONNECT touches (aedes 1.2, lib/client.js).
export interface ConnectingClient {
  id: string | null
  clean: boolean
  version: number | null
  will: unknown
  _will: unknown
  closed: boolean
  connecting: boolean
  connected: boolean
  connackSent: boolean
  _authorized: boolean
  _connectTimer: NodeJS.Timeout | null
  _keepaliveInterval: number
  _keepaliveTimer: NodeJS.Timeout | null
  _nextId: number
  conn: { cork: () => void, uncork: () => void, write: (chunk: Buffer) => boolean }
  pause: () => void
  resume: () => void
  close: (done?: () => void) => void
  emit: (event: string, ...args: unknown[]) => boolean
}

interface Persistence {
  cleanSubscriptions: (client: unknown) => Promise<void>
  /** Not in every persistence (aedes-persistence-redis 11 lacks it); Aedes feature-detects it too. */
  cleanIncoming?: (client: unknown) => Promise<void>
  delWill: (client: unknown) => Promise<unknown>
  putWill: (client: unknown, will: unknown) => Promise<unknown>
  outgoingStream: (client: unknown) => AsyncIterable<{ messageId?: number }>
  outgoingUpdate: (client: unknown, packet: unknown) => Promise<void>
  outgoingClearMessageId: (client: unknown, packet: unknown) => Promise<unknown>
}

interface BrokerInternals {
  closed: boolean
  keepaliveLimit: number
  persistence: Persistence
  preConnect: (client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void) => void
  authenticate: (client: Client, username: string | undefined, password: Buffer | undefined,
    done: (err: AuthenticateError | null, ok: boolean | null) => void) => void
  registerClient: (client: Client) => void
  emit: (event: string, ...args: unknown[]) => boolean
}

// Aedes's messages for CONNACK return codes (lib/handlers/connect.js).
const REFUSALS = ['', 'unacceptable protocol version', 'identifier rejected', 'Server unavailable', 'bad user name or password', 'not authorized']

export class CleanConnect {
  private readonly broker: BrokerInternals

  constructor (broker: Aedes, private readonly stored: StoredSessions | null) {
    this.broker = broker as unknown as BrokerInternals
  }

  /** True if this CONNECT takes the straight-line path (else Aedes's handler). */
  applies (packet: ConnectPacket): boolean {
    return packet.clean === true && packet.protocolVersion === 4 && !this.broker.keepaliveLimit
  }

  /** Runs the CONNECT; `done` is the client's next-batch callback (an error closes the connection). */
  run (client: ConnectingClient, packet: ConnectPacket, done: (err?: Error | null) => void): void {
    const aedesClient = client as unknown as Client
    if (client._connectTimer !== null) clearTimeout(client._connectTimer)
    client._connectTimer = null
    client.connecting = true
    this.broker.preConnect(aedesClient, packet, (err, ok) => {
      if (err || ok !== true) { // as Aedes: only an explicit true goes on
        client.connecting = false
        return done(err)
      }
      // Off the parser's stack, as Aedes: resume() below reads and parses the next bytes.
      setImmediate(() => this.authenticate(client, packet, done))
    })
  }

  private authenticate (client: ConnectingClient, packet: ConnectPacket, done: (err?: Error | null) => void): void {
    const aedesClient = client as unknown as Client
    client.id = packet.clientId || 'aedes_' + randomUUID()
    client.clean = true
    client.version = 4 // applies() let only MQTT 3.1.1 through
    client._will = packet.will ?? null
    client.pause() // no packet is handled until CONNACK (resumed below)
    this.broker.authenticate(aedesClient, packet.username, packet.password, (err, ok) => {
      if (client.closed || this.broker.closed) return // closed while authenticating, as Aedes
      if (!err && ok === true) {
        client._authorized = true
        this.connect(client, packet).then(() => done(), (err: Error) => {
          client.connecting = false
          done(err)
        })
      } else {
        this.refuse(client, err, done)
      }
    })
  }

  private async connect (client: ConnectingClient, packet: ConnectPacket): Promise<void> {
    const { broker } = this
    const id = client.id as string
    if (packet.keepalive !== undefined && packet.keepalive > 0) startKeepalive(client, broker, packet.keepalive)
    // Anything an earlier (persistent) session of this id left is dropped (MQTT-3.1.2-6).
    const hadState = this.stored === null || this.stored.hasState(id)
    if (hadState) await broker.persistence.cleanSubscriptions(client)
    client.will = client._will
    if (this.stored === null || this.stored.hasWill(id)) await broker.persistence.delWill(client).catch(() => {})
    if (client.will !== null) await broker.persistence.putWill(client, client.will)
    broker.registerClient(client as unknown as Client) // takes over a connection with the same id (MQTT-3.1.4-2)
    if (hadState) await broker.persistence.cleanIncoming?.(client)
    this.writeConnack(client, 0)
    client.resume()
    if (hadState) await dropOfflineQueue(client, broker.persistence)
    client.connecting = false
    client.connected = true
    broker.emit('clientReady', client)
    client.emit('connected')
  }

  /** CONNACK with the refusal's return code, then close, as Aedes's authenticate step (MQTT-3.2.2-5). */
  private refuse (client: ConnectingClient, err: AuthenticateError | null, done: (err?: Error | null) => void): void {
    const code = err?.returnCode !== undefined && err.returnCode >= 2 && err.returnCode <= 5 ? err.returnCode : 5
    const error = (err ?? new Error(REFUSALS[code])) as AuthenticateError & { errorCode?: number }
    if (!error.message) error.message = REFUSALS[code]
    error.errorCode = code
    if (client.connecting) this.writeConnack(client, code)
    client.close(() => done(error))
  }

  private writeConnack (client: ConnectingClient, returnCode: number): void {
    if (!client.connecting && !client.connected) throw new Error('connection closed') // as Aedes's write
    client.conn.cork() // flushed with everything else written this turn (src/connection.ts batchWrites)
    client.conn.write(Buffer.from([0x20, 0x02, 0x00, returnCode]))
    client.conn.uncork()
    client.connackSent = true
    this.broker.emit('connackSent', { cmd: 'connack', returnCode, sessionPresent: false }, client)
  }
}

// [MQTT-3.1.2-24]: one and a half times the keepalive, as Aedes's setKeepAlive.
function startKeepalive (client: ConnectingClient, broker: BrokerInternals, keepalive: number): void {
  client._keepaliveInterval = keepalive * 1500 + 1
  client._keepaliveTimer = setTimeout(() => {
    broker.emit('keepaliveTimeout', client)
    client.emit('error', new Error('keep alive timeout'))
  }, client._keepaliveInterval)
}

/**
 * What Aedes's emptyQueue does for a clean session: each message an earlier persistent
 * session left queued gets a packet id and is cleared by it, unsent.
 */
async function dropOfflineQueue (client: ConnectingClient, persistence: Persistence): Promise<void> {
  for await (const stored of persistence.outgoingStream(client)) {
    const packet = { ...stored }
    if (!packet.messageId) {
      packet.messageId = client._nextId
      client._nextId = client._nextId >= 65535 ? 1 : client._nextId + 1
    }
    await persistence.outgoingUpdate(client, packet)
    await persistence.outgoingClearMessageId(client, packet)
  }
}
