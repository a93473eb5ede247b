// A shared group's durable backlog (issue #16): while none of its members is connected but a
// persistent-session member will come back, its QoS 1/2 messages wait here, and the
// publisher is acknowledged once the message is stored. The backlog is the persistence's
// outgoing queue of a pseudo client id (`$swallow/share/<group>/<filter>`), so it lives
// where sessions live (LevelDB or memory) with the same guarantees across kill -9 and
// restarts. When a member is connected again the backlog drains to the members, one message
// at a time and back-pressured like live messages; a message leaves the backlog when a
// member acknowledges it (a member that leaves first gives it back: it is sent again).
import type { Logger } from '../logger.js'
import type { CoreMetrics } from '../metrics.js'
import { deleteStoredQueue, ownPacketId } from './stored-queue.js'
import type { Persistence, RoutedPacket } from './types.js'

export const BACKLOG_CLIENT_PREFIX = '$swallow/share/'

type Stored = Omit<RoutedPacket, 'cmd'>

export class SharedBacklog {
  readonly client: { id: string }
  /** Messages stored (counted at start by restore(), then kept up to date). */
  size = 0
  private draining = false
  private nextId = 1
  /** Backlog ids handed to a member and not acknowledged yet: not handed out again by a drain. */
  private readonly handedOut = new Set<number>()
  /** Ids the stored queue holds (given at a drain, of this run or an earlier one). */
  private readonly usedIds = new Set<number>()
  private warnedFull = false

  constructor (private readonly persistence: Persistence, key: string, private readonly limit: number, private readonly metrics: CoreMetrics, private readonly log: Logger) {
    this.client = { id: BACKLOG_CLIENT_PREFIX + key.slice('$share/'.length) }
  }

  /** Counts what an earlier run left. */
  async restore (): Promise<void> {
    let size = 0
    for await (const stored of this.persistence.outgoingStream(this.client)) {
      if (stored.cmd !== 'publish') continue
      size++
      const id = ownPacketId(stored, this.client.id)
      if (id !== undefined) this.usedIds.add(id)
    }
    this.size = size
  }

  /** Stores a message no member can take now; false when the backlog is full (counted, logged once per episode). */
  async store (message: RoutedPacket): Promise<boolean> {
    if (this.size >= this.limit) {
      this.metrics.dropped.inc({ reason: 'shared_backlog_full' })
      if (!this.warnedFull) this.log.warn({ group: this.client.id, limit: this.limit }, 'shared group backlog full (--shared-backlog): messages for it are dropped until a member takes some')
      this.warnedFull = true
      return false
    }
    this.size++
    await this.persistence.outgoingEnqueueCombi([{ clientId: this.client.id, topic: message.topic, qos: message.qos }], message)
    return true
  }

  /** A member acknowledged the backlog message with this id: it leaves the backlog. */
  acknowledged (backlogId: number): void {
    if (!this.handedOut.delete(backlogId)) return
    this.usedIds.delete(backlogId)
    this.size = Math.max(0, this.size - 1)
    this.warnedFull = false
    this.persistence.outgoingClearMessageId(this.client, { messageId: backlogId })
      .catch(err => this.log.warn({ err, group: this.client.id }, 'could not delete a delivered message from a shared group backlog; it may be delivered again'))
  }

  /** A member left before acknowledging it: the next drain hands it out again. */
  returned (backlogId: number): void {
    this.handedOut.delete(backlogId)
  }

  /**
   * Hands the stored messages to members, in order, each once `deliver` calls back (a full
   * member holds the next one back); stops when no member is left.
   */
  async drain (deliver: (message: RoutedPacket, backlogId: number) => Promise<boolean>): Promise<void> {
    if (this.draining || this.size === 0) return
    this.draining = true
    try {
      for await (const stored of this.persistence.outgoingStream(this.client)) {
        if (stored.cmd !== 'publish') continue
        let backlogId = ownPacketId(stored, this.client.id) ?? null
        if (backlogId !== null && this.handedOut.has(backlogId)) continue
        if (backlogId === null) {
          // A packet id in the backlog's queue is what lets one message be deleted later.
          backlogId = this.allocateId()
          this.usedIds.add(backlogId)
        }
        // Recorded (again, after a restart: see stored-queue.ts ownPacketId and session.ts recordAgain).
        await this.persistence.outgoingUpdate(this.client, { ...stored, messageId: backlogId, sentTo: this.client.id })
        this.handedOut.add(backlogId)
        if (!await deliver(toRouted(stored), backlogId)) {
          this.handedOut.delete(backlogId)
          break
        }
      }
    } finally {
      this.draining = false
    }
  }

  private allocateId (): number {
    for (;;) {
      const id = this.nextId
      this.nextId = id === 65535 ? 1 : id + 1
      if (!this.usedIds.has(id)) return id
    }
  }

  /** The group is gone (no member left at all): nobody will take its messages. */
  async clear (): Promise<void> {
    await deleteStoredQueue(this.persistence, this.client)
    this.size = 0
    this.usedIds.clear()
  }
}

function toRouted (stored: Stored & { cmd: string }): RoutedPacket {
  const { messageId: _, sentTo: __, ...rest } = stored
  return { ...rest, cmd: 'publish', dup: false, retain: false }
}
