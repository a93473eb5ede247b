// Fleet-wide counters (plain numbers: the hot path only increments them) and SeqSet,
// the per-device record of which sequence numbers were confirmed or echoed.

export interface FleetStats {
  started: number
  connected: number
  peakConnected: number
  sent: number
  /** Publishes the broker acknowledged (QoS 1/2) or that were written to the socket (QoS 0). */
  acked: number
  /** Publishes that failed (connection closed while in flight, client ending). */
  failed: number
  /** Telemetry ticks skipped because the device was offline or had too many unacked messages. */
  skipped: number
  errors: number
  reconnects: number
  commands: number
  commandAcks: number
  reboots: number
  /** --verify: telemetry messages of this fleet seen on the echo subscription. */
  echoed: number
  duplicates: number
}

export function newStats (): FleetStats {
  return {
    started: 0,
    connected: 0,
    peakConnected: 0,
    sent: 0,
    acked: 0,
    failed: 0,
    skipped: 0,
    errors: 0,
    reconnects: 0,
    commands: 0,
    commandAcks: 0,
    reboots: 0,
    echoed: 0,
    duplicates: 0
  }
}

/**
 * A set of positive integers that are mostly added in order: everything up to `low` is in,
 * plus a sparse set above it. Memory stays small while sequences are contiguous.
 */
export class SeqSet {
  private low = 0
  private readonly above = new Set<number>()
  size = 0
  max = 0

  /** Adds `seq`; false when it was already there. */
  add (seq: number): boolean {
    if (this.has(seq)) return false
    this.size++
    if (seq > this.max) this.max = seq
    if (seq === this.low + 1) {
      this.low = seq
      // Bounded by the set's size: each iteration removes one element.
      while (this.above.delete(this.low + 1)) this.low++
    } else {
      this.above.add(seq)
    }
    return true
  }

  has (seq: number): boolean {
    return seq <= this.low || this.above.has(seq)
  }

  /** How many members of this set are missing from `other`; the first few go to `sample`. */
  missingFrom (other: SeqSet, sample?: number[], sampleSize = 0): number {
    let missing = 0
    for (let seq = 1; seq <= this.max; seq++) {
      if (this.has(seq) && !other.has(seq)) {
        missing++
        if (sample && sample.length < sampleSize) sample.push(seq)
      }
    }
    return missing
  }
}
