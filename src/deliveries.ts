// QoS 0 deliveries, written by Swallow instead of Aedes's deliver0.
//
// Aedes copies the packet once more per subscriber, defers each write to its own
// setImmediate and encodes every PUBLISH again with mqtt-packet, which writes it as four or
// five small chunks. In the fan-out benchmark (1 publisher -> 100 subscribers) that was
// 42% of the broker's busy time in garbage collection and 25% in writev of tiny chunks.
// Here a delivery is the same checks (no-local, authorizeForward: ACLs, the $-topic rule,
// counting) and one write of bytes encoded once per message and shared by every
// subscriber that gets it with the same retain flag.
import type { AedesPublishPacket, Client } from 'aedes'
import { encodePublish } from './publish-bytes.js'

interface ForwardingBroker {
  authorizeForward: (client: Client, packet: AedesPublishPacket) => AedesPublishPacket | null | undefined
}

interface DeliveringClient {
  id: string
  conn: { cork: () => void, uncork: () => void, write: (chunk: Buffer) => boolean }
  connecting: boolean
  connected: boolean
  broker: ForwardingBroker
}

interface Encoded { topic: string, retain: boolean, bytes: Buffer }

// Keyed by the payload Buffer: Aedes gives every subscriber its own packet object, but
// they all share the published message's payload.
const encodedByPayload = new WeakMap<Buffer, Encoded>()

/** Writes a PUBLISH at QoS 0 to the client, if authorizeForward lets it through. */
export function deliverQoS0 (client: Client, packet: AedesPublishPacket): void {
  const c = client as unknown as DeliveringClient
  if (!c.connected && !c.connecting) return
  const origin = packet as { clientId?: string, nl?: boolean }
  if (origin.nl === true && origin.clientId === c.id) return // MQTT 5 no-local, as Aedes checks
  const forward = c.broker.authorizeForward(client, packet)
  if (!forward) return
  const bytes = encodedPublish(forward.topic, forward.payload as Buffer | string, forward.retain === true)
  c.conn.cork() // flushed with everything else written this turn (src/connection.ts batchWrites)
  c.conn.write(bytes)
  c.conn.uncork()
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
