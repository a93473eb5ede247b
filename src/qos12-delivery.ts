// QoS 1/2 deliveries to clean-session clients, written by Swallow instead of Aedes's
// deliverQoS (src/flow-control.ts decides when a delivery may go out).
//
// For a clean session Aedes stores nothing before writing (see src/clean-sessions.ts), so
// its deliverQoS only defers the write to a setImmediate, allocates a packet copy and picks
// the next packet id. Here the same steps run at once: no-local check, authorizeForward
// (ACLs, the $-topic rule, counting), the client's next packet id, one Buffer write. The
// QoS was capped by flow control before (src/granted-qos.ts). Persistent sessions keep Aedes's path (their
// delivery is stored with its packet id before it is written).
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

/** True if this client's QoS 1/2 deliveries can be written directly (clean session, open). */
export function deliversDirectly (client: Client): boolean {
  const c = client as unknown as DeliveringClient
  return c.clean && (c.connected || c.connecting)
}

/** Writes a QoS 1/2 PUBLISH to a clean-session client if authorizeForward lets it through. */
export function deliverQoS12 (client: Client, packet: AedesPublishPacket): void {
  const c = client as unknown as DeliveringClient
  const origin = packet as { clientId?: string, nl?: boolean }
  if (origin.nl === true && origin.clientId === c.id) return // MQTT 5 no-local, as Aedes checks
  const forward = c.broker.authorizeForward(client, packet)
  if (!forward) return
  const qos = forward.qos // already capped by the granted QoS (src/granted-qos.ts, in flow control)
  const messageId = c._nextId
  c._nextId = c._nextId >= 65535 ? 1 : c._nextId + 1
  const payload = typeof forward.payload === 'string' ? Buffer.from(forward.payload) : forward.payload
  c.conn.cork() // flushed with everything else written this turn (src/connection.ts batchWrites)
  c.conn.write(encodePublish(forward.topic, payload, qos, forward.retain === true, false, messageId))
  c.conn.uncork()
}
