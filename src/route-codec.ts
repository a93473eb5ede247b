// The binary form of a routed message between cluster nodes (src/cluster-emitter.ts): one
// message per QoS 0 pub/sub message, many per route-stream entry. Each message is
// self-delimiting:
//   [topicLen u16][topic][flags u8: qos | retain << 2][brokerIdLen u8][brokerId][brokerCounter f64]
//   [clientIdLen u16][clientId][receivedAt f64, NaN: none][extrasLen u32][extras (message-extras.ts)]
//   [payloadLen u32][payload]
import type { RoutedPacket } from './cluster-emitter.js'
import { decodeExtras, encodeExtras } from './protocol/message-extras.js'

/** Appends the messages' encodings to one buffer. */
export function encodeMessages (packets: readonly RoutedPacket[]): Buffer {
  const parts: Buffer[] = []
  for (const p of packets) {
    const topic = Buffer.from(p.topic)
    const broker = Buffer.from(p.brokerId ?? '')
    const client = Buffer.from(p.clientId ?? '')
    const extras = encodeExtras(p)
    // Aedes's own cluster messages ($SYS/<id>/new/clients ...) carry string payloads.
    const payload: Buffer = typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload
    const head = Buffer.allocUnsafe(2 + topic.length + 1 + 1 + broker.length + 8 + 2 + client.length + 8 + 4)
    let o = head.writeUInt16BE(topic.length, 0)
    o += topic.copy(head, o)
    o = head.writeUInt8(p.qos | (p.retain ? 4 : 0), o)
    o = head.writeUInt8(broker.length, o)
    o += broker.copy(head, o)
    o = head.writeDoubleBE(p.brokerCounter ?? 0, o)
    o = head.writeUInt16BE(client.length, o)
    o += client.copy(head, o)
    o = head.writeDoubleBE(typeof p.receivedAt === 'number' ? p.receivedAt : NaN, o)
    head.writeUInt32BE(extras.length, o)
    const payloadLength = Buffer.allocUnsafe(4)
    payloadLength.writeUInt32BE(payload.length, 0)
    parts.push(head, extras, payloadLength, payload)
  }
  return Buffer.concat(parts)
}

/** The messages `encodeMessages` wrote (from `offset` on); throws on a truncated buffer. */
export function decodeMessages (buf: Buffer, offset = 0): RoutedPacket[] {
  const out: RoutedPacket[] = []
  const r = new Reader(buf, offset)
  while (!r.done) {
    const topic = r.string(r.u16())
    const flags = r.u8()
    const brokerId = r.string(r.u8())
    const brokerCounter = r.f64()
    const clientId = r.string(r.u16())
    const receivedAt = r.f64()
    const extras = r.bytes(r.u32())
    // A copy: a view would keep the whole entry's buffer alive as long as any one message of it.
    const payload = Buffer.from(r.bytes(r.u32()))
    const p: RoutedPacket = { cmd: 'publish', topic, payload, qos: (flags & 3) as 0 | 1 | 2, retain: (flags & 4) !== 0, dup: false }
    if (brokerId !== '') {
      p.brokerId = brokerId
      p.brokerCounter = brokerCounter
    }
    if (clientId !== '') p.clientId = clientId
    if (!Number.isNaN(receivedAt)) p.receivedAt = receivedAt
    out.push(decodeExtras(p, extras))
  }
  return out
}

class Reader {
  constructor (private readonly buf: Buffer, private o: number) {}

  get done (): boolean { return this.o >= this.buf.length }

  u8 (): number { return this.buf.readUInt8(this.take(1)) }
  u16 (): number { return this.buf.readUInt16BE(this.take(2)) }
  u32 (): number { return this.buf.readUInt32BE(this.take(4)) }
  f64 (): number { return this.buf.readDoubleBE(this.take(8)) }

  string (length: number): string {
    const at = this.take(length)
    return this.buf.toString('utf8', at, at + length)
  }

  bytes (length: number): Buffer {
    const at = this.take(length)
    return this.buf.subarray(at, at + length)
  }

  /** The offset of the next `n` bytes, which are then read. */
  private take (n: number): number {
    if (this.o + n > this.buf.length) throw new Error('truncated route message')
    const at = this.o
    this.o += n
    return at
  }
}
