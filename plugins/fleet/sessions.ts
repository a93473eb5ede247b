// Persistent sessions as stored (LevelDB, memory or Redis), read through the persistence
// interface: every persistent session holds the marker subscription $swallow/session
// (src/session-marker.ts), so the subscription index lists them. The broker's own records
// ($swallow/ markers, the $swallow/share/ backlog pseudo clients) are never shown.
import { isReservedTopic, markedDeadline, SESSION_MARKER_TOPIC } from '../../src/session-marker.js'
import { deleteStoredQueue } from '../../src/protocol/stored-queue.js'
import type { Persistence, StoredSubscription } from '../../src/protocol/types.js'

export interface StoredSession {
  clientId: string
  /** When the session is deleted unless the client comes back (null: never, or it is connected). */
  expiresAt: number | null
  subscriptions: Array<{ filter: string, qos: number }>
  /** Messages in its stored queue (sent and unacknowledged, or waiting). */
  queued: number
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
    let expiresAt: number | null = null
    for (const s of stored) {
      const d = markedDeadline(s)
      if (d !== null && (expiresAt === null || d > expiresAt)) expiresAt = d
    }
    let queued = 0
    for await (const p of this.persistence.outgoingStream({ id: clientId })) if (p.cmd === 'publish') queued++
    return {
      clientId,
      expiresAt,
      subscriptions: stored.filter(s => !isReservedTopic(s.topic)).map(s => ({ filter: s.topic, qos: s.qos })),
      queued
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
