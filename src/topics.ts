// Topic filter matching (MQTT 3.1.1 section 4.7), and the core rule that topics starting
// with $ are not matched by filters starting with a wildcard (MQTT-4.7.2-1).
import type { AedesPublishPacket, Client } from 'aedes'

/** True when `filter` (may hold + and #) matches `topic`, including MQTT-4.7.2-1. */
export function topicMatches (filter: string, topic: string): boolean {
  const first = filter.charCodeAt(0)
  if (topic.charCodeAt(0) === 36 && (first === 35 || first === 43)) return false // '$' vs '#'/'+'
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true
    if (i >= t.length) return false
    if (f[i] !== '+' && f[i] !== t[i]) return false
  }
  return f.length === t.length
}

/**
 * authorizeForward step. Aedes filters $ topics out of live deliveries to wildcard
 * subscriptions, but not out of the retained messages it sends when a client subscribes
 * to "#" or "+/...": without this, "#" would receive every retained $SYS topic.
 */
export function dollarTopicsNeedExplicitFilter (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
  if (packet.topic.charCodeAt(0) !== 36) return packet // '$'
  const subscriptions = (client as unknown as { subscriptions: Record<string, unknown> }).subscriptions
  for (const filter in subscriptions) {
    if (filter.charCodeAt(0) === 36 && topicMatches(filter, packet.topic)) return packet
  }
  return null
}
