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
