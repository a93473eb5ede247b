// A persistent session's live messages that are in its stored queue only (outbound.ts,
// --queue-full-policy isolate; and a restored session's queue): while some are, later ones
// stay there too, and the outbound side reads them back in order ("refills") whenever its
// memory queue is empty. A message is identified by brokerId:brokerCounter (messageKey).
import type { OutgoingPublish } from './types.js'

/** A message's identity in a stored queue. */
export function messageKey (packet: { brokerId?: string, brokerCounter?: number }): string {
  return `${packet.brokerId ?? ''}:${packet.brokerCounter ?? 0}`
}

/** Reads up to `limit` never-sent messages of the stored queue, in order, except those `skip` names. */
export type ReadUnsent = (limit: number, skip: ReadonlySet<string>, spareId: () => number) => Promise<OutgoingPublish[]>

export class SpilledQueue {
  /** Live messages of this session are in its stored queue only: later ones follow them there. */
  spilling = false
  private refilling = false
  /** A restored session's in-flight messages are being sent again: no refill before they are. */
  private resending = false
  /** A message stayed in storage while a refill read it: the refill may not have seen it. */
  private spilledDuringRefill = false
  /** What the last refill read: a live copy of one of them arriving late is not sent twice. */
  private refilled: Set<string> | null = null

  /** A live message of this session, already stored: true when it stays there (read back later, or already read). */
  leavesStored (packet: OutgoingPublish): boolean {
    if (this.refilled?.has(messageKey(packet)) === true) return true
    if (!this.spilling) return false
    if (this.refilling) this.spilledDuringRefill = true
    return true
  }

  /** The memory queue is full: this message and the ones after it stay in storage. */
  spill (): void {
    this.spilling = true
  }

  /** A restored session: its queue is read from storage once the in-flight ones are sent again (resent()). */
  follow (): void {
    this.spilling = true
    this.resending = true
  }

  resent (): void {
    this.resending = false
  }

  /** A refill is due: something waits in storage and the memory queue is empty. */
  due (queueLength: number): boolean {
    return this.spilling && !this.refilling && !this.resending && queueLength === 0
  }

  /**
   * Reads the next part, up to `room` messages (`inFlight`: the messages sent and not yet
   * acknowledged). Resolves what to queue, and whether storage has nothing more
   * (`caughtUp`: spilling ended); null on a storage error (the next acknowledgement's
   * refill tries again).
   */
  async refill (read: ReadUnsent, room: number, inFlight: Iterable<OutgoingPublish>, spareId: () => number): Promise<{ packets: OutgoingPublish[], caughtUp: boolean } | null> {
    this.refilling = true
    this.spilledDuringRefill = false
    const skip = new Set<string>()
    for (const packet of inFlight) skip.add(messageKey(packet))
    try {
      const packets = await read(room, skip, spareId)
      this.refilled = new Set(packets.map(messageKey))
      // Fewer than asked for and nothing stayed in storage meanwhile: the stored queue has nothing more.
      const caughtUp = packets.length < room && !this.spilledDuringRefill
      if (caughtUp) this.spilling = false
      return { packets, caughtUp }
    } catch {
      return null
    } finally {
      this.refilling = false
    }
  }
}
