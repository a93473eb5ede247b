// --max-packet-size, checked from each packet's fixed header before its body is buffered:
// a client announcing a 200 MiB packet is refused after 5 bytes, not after 200 MiB.
// (mqtt-packet's parser has no size limit; this reads the same bytes alongside it.)

export class PacketSizeGuard {
  /** Body bytes of the current packet not yet seen. */
  private remaining = 0
  /** The fixed header read so far (type byte + Remaining Length bytes). */
  private readonly header: number[] = []

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
      this.header.push(chunk[i++])
      if (this.header.length === 1) continue
      // Remaining Length: 1 to 4 bytes, 7 bits each, high bit = more follow. A fifth is
      // malformed: the parser reports that.
      if ((this.header[this.header.length - 1] & 0x80) !== 0 && this.header.length < 5) continue
      let length = 0
      for (let k = this.header.length - 1; k >= 1; k--) length = length * 128 + (this.header[k] & 0x7f)
      const total = this.header.length + length
      this.header.length = 0
      if (total > this.max) return total
      this.remaining = length
    }
    return null
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
