// The QoS a delivery may have: the published QoS, capped by the highest QoS granted to the
// client's subscriptions that match the topic (MQTT-3.8.4-6, and MQTT-3.3.5-1 for
// overlapping subscriptions). Aedes caps only when a subscription's filter equals the topic,
// so a QoS 2 message reached a QoS 1 wildcard subscription at QoS 2.
import { topicMatches } from './topics.js'

export type GrantedSubscriptions = Record<string, { qos?: number } | undefined>

export function deliveryQoS (subscriptions: GrantedSubscriptions, topic: string, published: number): number {
  let granted = subscriptions[topic]?.qos ?? -1
  if (granted >= published) return published // the common case: one look-up
  for (const filter in subscriptions) {
    const qos = subscriptions[filter]?.qos ?? 0
    if (qos > granted && topicMatches(filter, topic)) granted = qos
    if (granted >= published) return published
  }
  return granted < 0 ? published : granted // no matching subscription (none of ours to cap)
}
