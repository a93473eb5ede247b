// A stored queue (the persistence's outgoing messages of one client id) deleted as a whole:
// a queued message has no packet id yet, and the persistence deletes by packet id, so each
// one gets an id first. Used for an ended session and for an abandoned shared-group backlog.
import type { Persistence, RoutedPacket, SessionClient } from './types.js'

/**
 * The packet id a stored message was sent to this client with; undefined when it was never
 * sent to it. aedes-persistence-redis keeps one record of a message for all the sessions
 * that queue it, and a delivery to one of them writes its packet id into that record: for
 * the others it is a message not yet sent (a record written before 2026-12-04 names no
 * client: taken as this one's, as before).
 */
export function ownPacketId (stored: Pick<RoutedPacket, 'sentTo'> & { messageId?: unknown }, clientId: string): number | undefined {
  if (typeof stored.messageId !== 'number') return undefined
  return stored.sentTo == null || stored.sentTo === clientId ? stored.messageId : undefined
}

export async function deleteStoredQueue (persistence: Persistence, client: SessionClient): Promise<void> {
  let nextId = 1
  for await (const stored of persistence.outgoingStream(client)) {
    const sentAs = ownPacketId(stored, client.id)
    const messageId = sentAs ?? nextId++
    if (sentAs === undefined) await persistence.outgoingUpdate(client, { ...stored, messageId, sentTo: client.id })
    await persistence.outgoingClearMessageId(client, { messageId })
  }
}
