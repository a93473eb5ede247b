// --max-packet-size, checked from each packet's fixed header before its body is buffered:
// a client announcing a 200 MiB packet is refused after 5 bytes, not after 200 MiB.
// (mqtt-packet's parser has no size limit; this reads the same bytes alongside it.)

export class PacketSizeGuard {
  /** Body bytes of the current packet not yet seen. */
  private remaining = 0
  /** The current packet's size, once its fixed header is complete. */
  private total = 0
  /** Packets whose fixed header was read: tells one unfinished packet from the next. */
  packetNumber = 0
  /** Bytes of the current fixed header read so far (type byte + Remaining Length bytes). */
  private headerBytes = 0
  /** The Remaining Length decoded so far, and the weight of its next byte. */
  private length = 0
  private weight = 1

  constructor (private readonly max: number) {}

  /** The size of a packet in `chunk` over the limit, or null. */
  check (chunk: Buffer): number | null {
    let i = 0
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const skip = Math.min(this.remaining, chunk.length - i)
        this.remaining -= skip
        i += skip
        continue
      }
      const byte = chunk[i++]
      if (this.headerBytes++ === 0) continue
      // Remaining Length: 1 to 4 bytes, 7 bits each, high bit = more follow. A fifth is
      // malformed: the parser reports that.
      this.length += (byte & 0x7f) * this.weight
      this.weight *= 128
      if ((byte & 0x80) !== 0 && this.headerBytes < 5) continue
      const total = this.headerBytes + this.length
      this.total = total
      this.packetNumber++
      this.remaining = this.length
      this.headerBytes = this.length = 0
      this.weight = 1
      if (total > this.max) return total
    }
    return null
  }

  /** Bytes of an unfinished packet seen so far (the parser holds them until it is complete). */
  get partialBytes (): number {
    return this.remaining > 0 ? this.total - this.remaining : this.headerBytes
  }
}

/**
 * The protocol level of a CONNECT at the start of `chunk` (a connection's first read), or
 * null: an MQTT 5 CONNECT over the limit is answered CONNACK 0x95 before the close.
 */
export function connectLevel (chunk: Buffer): number | null {
  if (chunk[0] !== 0x10) return null
  let last = 1 // the last Remaining Length byte
  while (last < 4 && (chunk[last] & 0x80) !== 0) last++
  // Then the protocol name: a 2-byte length and "MQTT", then the level.
  const level = last + 7
  return level < chunk.length ? chunk[level] : null
}
