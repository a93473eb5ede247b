// Topic filter matching (MQTT 3.1.1 section 4.7), and the core rule that topics starting
// with $ are not matched by filters starting with a wildcard (MQTT-4.7.2-1).
import type { AedesPublishPacket, Client } from 'aedes'
import { subscriptionsOf } from './aedes-seam.js'
import { parseShared } from './protocol/shared-members.js'

/**
 * True when `filter` (may hold + and #) matches `topic`, including MQTT-4.7.2-1. Walks both
 * strings level by level without splitting them: it runs for every delivery, once per
 * subscription of the receiving client (src/protocol/deliver.ts).
 */
export function topicMatches (filter: string, topic: string): boolean {
  const first = filter.charCodeAt(0)
  if (topic.charCodeAt(0) === 36 && (first === 35 || first === 43)) return false // '$' vs '#'/'+'
  const fl = filter.length
  const tl = topic.length
  let f = 0 // start of the current level in each; t > tl: the topic has no level left
  let t = 0
  for (;;) {
    if (filter.charCodeAt(f) === 35) return true // '#' (the last level of a valid filter)
    if (t > tl) return false
    let fe = filter.indexOf('/', f)
    if (fe === -1) fe = fl
    let te = topic.indexOf('/', t)
    if (te === -1) te = tl
    const plus = fe - f === 1 && filter.charCodeAt(f) === 43
    if (!plus) {
      if (fe - f !== te - t) return false
      for (let i = 0; i < fe - f; i++) if (filter.charCodeAt(f + i) !== topic.charCodeAt(t + i)) return false
    }
    if (fe === fl) return te === tl
    f = fe + 1
    t = te + 1
  }
}

/**
 * authorizeForward step. Aedes filters $ topics out of live deliveries to wildcard
 * subscriptions, but not out of the retained messages it sends when a client subscribes
 * to "#" or "+/...": without this, "#" would receive every retained $SYS topic.
 * A shared subscription is judged by its inner filter: `$share/g/$SYS/#` is a filter
 * `$SYS/#` (MQTT-4.7.2-1 is about the filter's first character), `$share/g/#` is `#`.
 */
export function dollarTopicsNeedExplicitFilter (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
  if (packet.topic.charCodeAt(0) !== 36) return packet // '$'
  const subscriptions = subscriptionsOf(client)
  for (const key in subscriptions) {
    const filter = parseShared(key)?.filter ?? key
    if (filter.charCodeAt(0) === 36 && topicMatches(filter, packet.topic)) return packet
  }
  return null
}
