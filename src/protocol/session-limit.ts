// --max-sessions: how many stored (persistent) sessions the broker keeps, all cluster nodes
// together (they share the persistence). A CONNECT that would store one more is refused
// (MQTT 5: CONNACK 0x97 Quota exceeded; 3.1.1: 3, server unavailable), counted; existing
// sessions resume as before. The count is the persistence's session markers
// (session-marker.ts), read again at most once a second and counted up in between, so a
// burst of new sessions on several nodes at once may pass the limit by what they add in
// that second.
import { SESSION_MARKER_TOPIC } from '../session-marker.js'
import type { Persistence } from './types.js'

const REREAD_MS = 1000

/** Thrown by the CONNECT handler: the connect handler answers it with CONNACK 0x97 (3.1.1: 3). */
export class SessionLimitReached extends Error {
  readonly reasonCode = 0x97
  constructor (max: number) {
    super(`--max-sessions (${max}) stored sessions exist; this client's new persistent session is refused`)
  }
}

export class SessionLimit {
  private known = 0
  private readAt = -Infinity

  constructor (private readonly persistence: Persistence, readonly max: number, private readonly refused: { inc: () => void }) {}

  /** True when one more stored session may be made now (and it is counted). */
  async admit (): Promise<boolean> {
    if (this.max === 0) return true
    if (Date.now() - this.readAt > REREAD_MS) {
      this.known = (await this.persistence.subscriptionsByTopic(SESSION_MARKER_TOPIC)).length
      this.readAt = Date.now()
    }
    if (this.known >= this.max) {
      this.refused.inc()
      return false
    }
    this.known++
    return true
  }
}
