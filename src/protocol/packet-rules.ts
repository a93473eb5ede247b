// Rules a parsed packet can still break: mqtt-packet parses them without complaint (see
// docs/CONFORMANCE.md). A violation closes that connection only, as a protocol error.
import type { Packet } from 'mqtt-packet'

/** The rule this well-formed packet breaks, or null. */
export function packetViolation (packet: Packet): string | null {
  switch (packet.cmd) {
    case 'connect':
      // MQTT 5 allows a password without a user name (MQTT 5.0 section 3.1.2.9).
      if (packet.protocolVersion !== 5 && packet.password !== undefined && packet.username === undefined) return 'password without user name (MQTT-3.1.2-22)'
      return null
    case 'publish':
      if (packet.qos > 0 && !packet.messageId) return 'QoS 1/2 PUBLISH with packet identifier 0 (MQTT-2.3.1-1)'
      return null
    case 'subscribe':
      if (!packet.messageId) return 'SUBSCRIBE with packet identifier 0 (MQTT-2.3.1-1)'
      return null
    case 'unsubscribe':
      if (!packet.messageId) return 'UNSUBSCRIBE with packet identifier 0 (MQTT-2.3.1-1)'
      if (packet.unsubscriptions.length === 0) return 'UNSUBSCRIBE without a topic filter (MQTT-3.10.3-2)'
      return null
    default:
      return null
  }
}
