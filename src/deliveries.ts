// Deliveries written by Swallow instead of Aedes's deliver0 / deliverQoS (src/flow-control.ts
// decides when a delivery may go out). Each is the checks Aedes makes (MQTT 5 no-local,
// authorizeForward: ACLs, the $-topic rule, counting) and one write of one Buffer.
//
// QoS 0, every client: Aedes copied the packet once more per subscriber, deferred each write
// to its own setImmediate and encoded every PUBLISH again with mqtt-packet, which writes it as
// four or five small chunks. In the fan-out benchmark (1 publisher -> 100 subscribers) that
// was 42% of the broker's busy time in garbage collection and 25% in writev of tiny chunks.
// Here the bytes are encoded once per message and shared by every subscriber that gets it
// with the same retain flag.
//
// QoS 1/2, clean sessions: Aedes stores nothing before writing (see src/clean-sessions.ts),
// so its deliverQoS only deferred the write to a setImmediate, copied the packet and picked
// the next packet id; here that happens at once. The QoS was capped by flow control before
// (src/granted-qos.ts). Persistent sessions keep Aedes's path: their delivery is stored with
// its packet id before it is written.
import type { AedesPublishPacket, Client } from 'aedes'
import { encodePublish } from './publish-bytes.js'

interface DeliveringClient {
  id: string
  clean: boolean
  connecting: boolean
  connected: boolean
  _nextId: number
  conn: { cork: () => void, uncork: () => void, write: (chunk: Buffer) => boolean }
  broker: { authorizeForward: (client: Client, packet: AedesPublishPacket) => AedesPublishPacket | null | undefined }
}

/** The packet to send after Aedes's checks, or null when it must not reach this client. */
function forwardable (c: DeliveringClient, packet: AedesPublishPacket): AedesPublishPacket | null {
  const origin = packet as { clientId?: string, nl?: boolean }
  if (origin.nl === true && origin.clientId === c.id) return null // MQTT 5 no-local, as Aedes checks
  return c.broker.authorizeForward(c as unknown as Client, packet) ?? null
}

function write (c: DeliveringClient, bytes: Buffer): void {
  c.conn.cork() // flushed with everything else written this turn (src/connection.ts batchWrites)
  c.conn.write(bytes)
  c.conn.uncork()
}

interface Encoded { topic: string, retain: boolean, bytes: Buffer }

// Keyed by the payload Buffer: Aedes gives every subscriber its own packet object, but
// they all share the published message's payload.
const encodedByPayload = new WeakMap<Buffer, Encoded>()

/** Writes a PUBLISH at QoS 0 to the client, if authorizeForward lets it through. */
export function deliverQoS0 (client: Client, packet: AedesPublishPacket): void {
  const c = client as unknown as DeliveringClient
  if (!c.connected && !c.connecting) return
  const forward = forwardable(c, packet)
  if (forward !== null) write(c, encodedPublish(forward.topic, forward.payload as Buffer | string, forward.retain === true))
}

/** True if this client's QoS 1/2 deliveries can be written directly (clean session, open). */
export function deliversDirectly (client: Client): boolean {
  const c = client as unknown as DeliveringClient
  return c.clean && (c.connected || c.connecting)
}

/** Writes a QoS 1/2 PUBLISH to a clean-session client if authorizeForward lets it through. */
export function deliverQoS12 (client: Client, packet: AedesPublishPacket): void {
  const c = client as unknown as DeliveringClient
  const forward = forwardable(c, packet)
  if (forward === null) return
  const messageId = c._nextId
  c._nextId = c._nextId >= 65535 ? 1 : c._nextId + 1
  const payload = typeof forward.payload === 'string' ? Buffer.from(forward.payload) : forward.payload
  write(c, encodePublish(forward.topic, payload, forward.qos, forward.retain === true, false, messageId))
}

function encodedPublish (topic: string, payload: Buffer | string, retain: boolean): Buffer {
  if (typeof payload === 'string' || payload === undefined) return encodePublishQoS0(topic, Buffer.from(payload ?? ''), retain)
  const cached = encodedByPayload.get(payload)
  if (cached !== undefined && cached.topic === topic && cached.retain === retain) return cached.bytes
  const bytes = encodePublishQoS0(topic, payload, retain)
  encodedByPayload.set(payload, { topic, retain, bytes })
  return bytes
}

/** MQTT 3.1.1 PUBLISH at QoS 0, DUP 0 (MQTT-3.3.1-2). */
export const encodePublishQoS0 = (topic: string, payload: Buffer, retain: boolean): Buffer =>
  encodePublish(topic, payload, 0, retain, false, 0)
