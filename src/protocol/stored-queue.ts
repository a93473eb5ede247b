// A stored queue (the persistence's outgoing messages of one client id) deleted as a whole:
// a queued message has no packet id yet, and the persistence deletes by packet id, so each
// one gets an id first. Used for an ended session and for an abandoned shared-group backlog.
import type { Persistence, SessionClient } from './types.js'

export async function deleteStoredQueue (persistence: Persistence, client: SessionClient): Promise<void> {
  let nextId = 1
  for await (const stored of persistence.outgoingStream(client)) {
    const sentAs = typeof stored.messageId === 'number' ? stored.messageId : undefined
    const messageId = sentAs ?? nextId++
    if (sentAs === undefined) await persistence.outgoingUpdate(client, { ...stored, messageId })
    await persistence.outgoingClearMessageId(client, { messageId })
  }
}
