// When a message entered the offline queues, for the fleet API's "oldest queued message"
// age (plugins/fleet). Taken once per stored QoS 1/2 message, where the route stores it
// (route.ts); nothing else on the message path reads a clock for it.
//
// Every persistence copies a message it enqueues through aedes-packet's Packet, which keeps
// a fixed list of fields (cmd, topic, payload, qos, retain, dup, brokerId, brokerCounter,
// clientId, nl, properties, messageExpiry): a field of Swallow's own is dropped there. The
// properties object is kept whole (memory: the object itself; LevelDB and Redis: msgpack of
// all of it), so the copy the route enqueues carries the time in its properties, under a key
// no MQTT property has; deliver.ts copies the MQTT properties only, so it never reaches a
// subscriber. Once a stored message is sent, LevelDB and Redis replace the record with the
// PUBLISH sent (outgoingUpdate, msgpack of the whole packet), which carries the time as its
// own field `receivedAt`, as it carries messageExpiry.
import type { RoutedPacket } from './types.js'

const KEY = 'swallowReceivedAt'

/** The copy of a message the offline queues store: the same, with the time it was received. */
export function queuedCopy (packet: RoutedPacket, at: number): RoutedPacket {
  return { ...packet, properties: { ...packet.properties, [KEY]: at } as RoutedPacket['properties'] }
}

/** When a message (routed, or read back from a stored queue) was received; null: not known (stored before 2026-12-04, or never stored). */
export function queuedAt (message: { receivedAt?: number | null, properties?: object | null }): number | null {
  if (typeof message.receivedAt === 'number') return message.receivedAt
  const at = (message.properties as Record<string, unknown> | null | undefined)?.[KEY]
  return typeof at === 'number' ? at : null
}
