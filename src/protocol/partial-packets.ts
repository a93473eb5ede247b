// Unfinished packets held in memory (issue #20: 300 sockets each holding a 1 MB PUBLISH that
// never completes took 300 MB and were never closed). Every connection reports the bytes of
// its current unfinished packet (packet-size.ts reads them from the fixed header); the sum
// over all connections is bounded by --max-buffered-bytes (the connection whose packet
// crosses it is closed), and one packet may stay unfinished for --partial-packet-timeout.

export interface PartialLimits {
  maxBufferedBytes: number
  partialPacketTimeout: number
}

/** The broker-wide count, shared by every connection of the protocol core. */
export class PartialPackets {
  bytes = 0

  constructor (readonly limits: PartialLimits) {}

  /** A connection's unfinished packet went from `before` to `after` bytes; false when the sum is now over the limit. */
  update (before: number, after: number): boolean {
    this.bytes += after - before
    return this.bytes <= this.limits.maxBufferedBytes
  }
}

/** One connection's unfinished packet: its bytes in the broker-wide count, and its timer. */
export class PartialPacketWatch {
  private held = 0
  private packet = 0
  private timer: NodeJS.Timeout | null = null

  /** `timedOut` gets the bytes still held when one packet outlived --partial-packet-timeout. */
  constructor (private readonly partials: PartialPackets, private readonly timedOut: (held: number) => void) {}

  /**
   * After a read: `held` bytes of packet number `packet` are unfinished (0: none). False
   * when the broker-wide sum is now over --max-buffered-bytes.
   */
  update (held: number, packet: number): boolean {
    const withinLimit = this.partials.update(this.held, held)
    this.held = held
    if (held === 0 || !withinLimit) return withinLimit // an armed timer finds nothing held and does nothing
    if (this.timer !== null && this.packet === packet) return true
    this.packet = packet
    // A busy connection often ends a read inside a packet: one timer, re-armed, not one per packet.
    if (this.timer !== null) {
      this.timer.refresh()
      return true
    }
    this.timer = setTimeout(() => { if (this.held > 0) this.timedOut(this.held) }, this.partials.limits.partialPacketTimeout)
    this.timer.unref()
    return true
  }

  /** The connection closed: what it held leaves the count. */
  end (): void {
    this.partials.update(this.held, 0)
    this.held = 0
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }
}
