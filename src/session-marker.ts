// A persistent session exists from its first CleanSession=0 CONNECT (MQTT 5: Session Expiry
// Interval > 0), even with nothing in it, and CONNACK's Session Present is 1 while it exists
// (MQTT-3.2.2-2). The persistence interface stores subscriptions only, so a session without
// any (none made yet, or every filter refused) would look absent (issue #14).
//
// The session's existence is stored as one marker subscription, through the persistence
// interface, so it lives wherever the session lives (LevelDB, memory, Redis: every cluster
// node sees it), counts as stored state for src/session-index.ts, and is deleted with the
// other subscriptions when the session ends. It never delivers anything: the protocol core
// does not route it (src/protocol/session.ts), and nobody may subscribe or publish to a
// $swallow/ topic (src/hooks.ts, src/broker.ts).

/** A $ topic: wildcard filters never match it (MQTT-4.7.2-1). */
export const SESSION_MARKER_TOPIC = '$swallow/session'

interface StoredSubscription { topic: string }

// QoS 1: the persistences index only QoS > 0 subscriptions by topic at run time (QoS 0
// ones only when loaded at start), and the expiry sweep lists sessions through that index
// (src/protocol/session.ts sweepExpiredSessions). Nothing is ever published to the marker.
export const SESSION_MARKER = Object.freeze({ topic: SESSION_MARKER_TOPIC, qos: 1 as const })

export const isSessionMarker = (sub: StoredSubscription): boolean => sub.topic === SESSION_MARKER_TOPIC

/**
 * When a session with a finite expiry ends, its deadline is stored the same way, as a
 * second marker `$swallow/expires/<Date.now() deadline>`, so that every node that later sees
 * a CONNECT for the id knows whether the session is still there (MQTT-3.1.2-23).
 */
const EXPIRY_PREFIX = '$swallow/expires/'

export const expiryMarker = (deadline: number): { topic: string, qos: 0 } => ({ topic: EXPIRY_PREFIX + String(deadline), qos: 0 })

/** The deadline an expiry marker holds, or null for any other subscription. */
export function markedDeadline (sub: StoredSubscription): number | null {
  if (!sub.topic.startsWith(EXPIRY_PREFIX)) return null
  const deadline = Number(sub.topic.slice(EXPIRY_PREFIX.length))
  return Number.isFinite(deadline) ? deadline : null
}

/**
 * When a persistent session's connection ends, the time is stored beside it the same way,
 * `$swallow/offline/<Date.now()>` (in the same write as the expiry marker), so the fleet API
 * can tell how long an offline session has been offline on any node. A reconnect removes it
 * with the expiry marker (src/protocol/session.ts restoreSession).
 */
const OFFLINE_PREFIX = '$swallow/offline/'

export const offlineMarker = (at: number): { topic: string, qos: 0 } => ({ topic: OFFLINE_PREFIX + String(at), qos: 0 })

/** When the session went offline, as an offline marker holds it, or null for any other subscription. */
export function markedOffline (sub: StoredSubscription): number | null {
  if (!sub.topic.startsWith(OFFLINE_PREFIX)) return null
  const at = Number(sub.topic.slice(OFFLINE_PREFIX.length))
  return Number.isFinite(at) ? at : null
}

/** The markers a disconnect stores and a reconnect removes. */
export const isDisconnectMarker = (sub: StoredSubscription): boolean => markedDeadline(sub) !== null || markedOffline(sub) !== null

/** $swallow/ topics belong to the broker: no client subscribes or publishes there. */
export const isReservedTopic = (topic: string): boolean => topic.startsWith('$swallow/')

/**
 * A persistent session holding a shared subscription also holds this marker (QoS 1, for
 * the same reason as the session marker), so that a restarted broker finds the groups whose
 * members are offline (src/protocol/shared-groups.ts restore()).
 */
export const SHARED_MARKER_TOPIC = '$swallow/shared'
export const SHARED_MARKER = Object.freeze({ topic: SHARED_MARKER_TOPIC, qos: 1 as const })
