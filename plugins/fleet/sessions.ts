// Persistent sessions as stored (LevelDB, memory or Redis), read through the persistence
// interface: every persistent session holds the marker subscription $swallow/session
// (src/session-marker.ts), so the subscription index lists them. The broker's own records
// ($swallow/ markers, the $swallow/share/ backlog pseudo clients) are never shown.
import { isReservedTopic, markedDeadline, markedOffline, SESSION_MARKER_TOPIC } from '../../src/session-marker.js'
import { queuedAt } from '../../src/protocol/queued-at.js'
import { deleteStoredQueue } from '../../src/protocol/stored-queue.js'
import type { Persistence, StoredSubscription } from '../../src/protocol/types.js'

export interface StoredSession {
  clientId: string
  /** When the session is deleted unless the client comes back (null: never, or it is connected). */
  expiresAt: number | null
  subscriptions: Array<{ filter: string, qos: number }>
  /** When its last connection ended (null: it is connected, or it ended before the broker stored this, 2026-12-04). */
  disconnectedAt: number | null
  /** Messages in its stored queue (sent and unacknowledged, or waiting). */
  queued: number
  /** When the oldest of them was received (null: none, or stored before the broker kept the time). */
  oldestQueuedAt: number | null
}

export class Sessions {
  constructor (private readonly persistence: Persistence) {}

  /** The client ids with a stored persistent session, sorted. */
  async ids (): Promise<string[]> {
    const ids = new Set<string>()
    for (const { clientId } of await this.persistence.subscriptionsByTopic(SESSION_MARKER_TOPIC)) {
      if (clientId !== undefined && !clientId.startsWith('$swallow/')) ids.add(clientId)
    }
    return [...ids].sort()
  }

  /** One session, or null when none is stored for this id. */
  async get (clientId: string): Promise<StoredSession | null> {
    const stored: StoredSubscription[] = await this.persistence.subscriptionsByClient({ id: clientId })
    if (!stored.some(s => s.topic === SESSION_MARKER_TOPIC)) return null
    let queued = 0
    let oldestQueuedAt: number | null = null
    for await (const p of this.persistence.outgoingStream({ id: clientId })) {
      if (p.cmd !== 'publish') continue
      queued++
      const at = queuedAt(p)
      if (at !== null && (oldestQueuedAt === null || at < oldestQueuedAt)) oldestQueuedAt = at
    }
    return {
      clientId,
      expiresAt: latest(stored, markedDeadline),
      disconnectedAt: latest(stored, markedOffline),
      subscriptions: stored.filter(s => !isReservedTopic(s.topic)).map(s => ({ filter: s.topic, qos: s.qos })),
      queued,
      oldestQueuedAt
    }
  }

  /** A stored session's subscriptions only (no queue count: the subscription listings read many sessions). */
  async subscriptions (clientId: string): Promise<Array<{ filter: string, qos: number }>> {
    const stored: StoredSubscription[] = await this.persistence.subscriptionsByClient({ id: clientId })
    return stored.filter(s => !isReservedTopic(s.topic)).map(s => ({ filter: s.topic, qos: s.qos }))
  }

  /** Deletes what is stored of an offline session: subscriptions (with the markers), QoS 2 state and queue. */
  async delete (clientId: string): Promise<void> {
    const client = { id: clientId }
    await this.persistence.cleanSubscriptions(client)
    await this.persistence.cleanIncoming?.(client)
    await deleteStoredQueue(this.persistence, client)
  }
}

/** The latest time a kind of marker holds (the last disconnect's), or null. */
function latest (stored: StoredSubscription[], marked: (s: StoredSubscription) => number | null): number | null {
  let last: number | null = null
  for (const s of stored) {
    const at = marked(s)
    if (at !== null && (last === null || at > last)) last = at
  }
  return last
}
