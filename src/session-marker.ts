// A persistent session exists from its first CleanSession=0 CONNECT, even with nothing in
// it, and CONNACK's Session Present is 1 while it exists (MQTT-3.2.2-2). Aedes 1.2 derives
// Session Present from the stored subscriptions alone, so a session without subscriptions
// (none made yet, or every filter refused) was reported absent and forgotten (issue #14).
//
// The session's existence is stored as one marker subscription, through the persistence
// interface, so it lives wherever the session lives (LevelDB, memory, Redis: every cluster
// node sees it), counts as stored state for src/session-index.ts, and is deleted with the
// other subscriptions by a CleanSession=1 CONNECT. It never delivers anything: restoring it
// is refused first thing in the authorizeSubscribe chain (src/hooks.ts), and nobody may
// subscribe or publish to a $swallow/ topic (src/broker.ts).
import { wrapOperation, type AnyOperation, type Implementations } from './storage-operations.js'

/** A $ topic: wildcard filters never match it (MQTT-4.7.2-1). */
export const SESSION_MARKER_TOPIC = '$swallow/session'

interface StoredSubscription { topic: string }

export const isSessionMarker = (sub: StoredSubscription): boolean => sub.topic === SESSION_MARKER_TOPIC

/** $swallow/ topics belong to the broker: no client subscribes or publishes there. */
export const isReservedTopic = (topic: string): boolean => topic.startsWith('$swallow/')

/**
 * Aedes asks for a session's subscriptions only on a CleanSession=0 CONNECT (and restores
 * them then): a session without the marker is new (or older than the marker), so the marker
 * is stored and the answer stays as it was; from the next CONNECT on, the marker is part of
 * the answer and Aedes reports the session as present.
 */
export function markPersistentSessions (impl: Implementations): void {
  // The addSubscriptions of this moment: below the SUBSCRIBE batching, which waits for the
  // ACL's decision on each filter (src/subscribe-batches.ts); the marker needs none.
  const add = impl.addSubscriptions
  wrapOperation(impl, 'subscriptionsByClient', (stored: AnyOperation) => async (client: { id: string }) => {
    const subs = await stored(client) as StoredSubscription[]
    if (!subs.some(isSessionMarker)) await add(client, [{ topic: SESSION_MARKER_TOPIC, qos: 0 }])
    return subs
  })
}
