// PUBLISH packets as one Buffer each.
//
// mqtt-packet's writeToStream writes a PUBLISH as four or five small chunks (fixed header,
// length, topic length, topic, packet id, payload); Aedes writes every delivery and every
// packet it sends through it. With many sockets each chunk becomes an iovec of a writev and
// an object for the garbage collector: in the fan-in benchmark (200 publishers, QoS 1)
// writev of small chunks and GC were the largest costs. `installPublishEncoder` replaces
// writeToStream for ordinary MQTT 3.1.1 PUBLISH packets with one Buffer write (a small,
// documented patch of the module object Aedes's lib/write.js calls); anything else
// (MQTT 5 properties, Buffer topics, large payloads, invalid packets) goes to the original.
import mqttPacket from 'mqtt-packet'

/** Larger payloads are written by reference (copying them into one Buffer would cost more). */
const MAX_COPIED_PAYLOAD = 16 * 1024

/** Encodes a 3.1.1 PUBLISH; `messageId` is written for QoS 1 and 2 only. */
export function encodePublish (topic: string, payload: Buffer, qos: 0 | 1 | 2, retain: boolean, dup: boolean, messageId: number): Buffer {
  const topicLength = Buffer.byteLength(topic)
  const remaining = 2 + topicLength + (qos > 0 ? 2 : 0) + payload.length
  const lengthBytes = remaining < 0x80 ? 1 : remaining < 0x4000 ? 2 : remaining < 0x200000 ? 3 : 4
  const bytes = Buffer.allocUnsafe(1 + lengthBytes + remaining)
  bytes[0] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0)
  let offset = 1
  let rest = remaining
  do {
    let digit = rest % 0x80
    rest = Math.floor(rest / 0x80)
    if (rest > 0) digit |= 0x80
    bytes[offset++] = digit
  } while (rest > 0)
  bytes.writeUInt16BE(topicLength, offset)
  offset += 2
  offset += bytes.write(topic, offset, 'utf8')
  if (qos > 0) {
    bytes.writeUInt16BE(messageId, offset)
    offset += 2
  }
  payload.copy(bytes, offset)
  return bytes
}

interface PublishLike {
  cmd: string
  topic?: unknown
  payload?: unknown
  qos?: number
  retain?: boolean
  dup?: boolean
  messageId?: number
  properties?: unknown
}

interface CorkableStream {
  cork?: () => void
  uncork?: () => void
  write: (chunk: Buffer) => boolean
}

type WriteToStream = (packet: unknown, stream: unknown, opts?: { protocolVersion?: number }) => boolean

const uncork = (stream: CorkableStream): void => { stream.uncork?.() }

/** The payload as a Buffer if this packet can take the one-Buffer path, else null. */
function simplePayload (p: PublishLike, opts?: { protocolVersion?: number }): Buffer | null {
  if (p.properties !== undefined || (opts?.protocolVersion ?? 4) === 5) return null
  if (typeof p.topic !== 'string' || p.topic.length === 0) return null
  const qos = p.qos ?? 0
  if (qos !== 0 && qos !== 1 && qos !== 2) return null
  if (qos > 0 && (typeof p.messageId !== 'number' || p.messageId < 1 || p.messageId > 0xffff)) return null
  const payload = p.payload === undefined ? Buffer.alloc(0) : typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload
  if (!Buffer.isBuffer(payload) || payload.length > MAX_COPIED_PAYLOAD) return null
  return payload
}

let installed = false

/** Routes mqtt-packet's writeToStream of ordinary PUBLISH packets through encodePublish. */
export function installPublishEncoder (): void {
  if (installed) return
  installed = true
  const module = mqttPacket as unknown as { writeToStream: WriteToStream }
  const original = module.writeToStream
  module.writeToStream = function writePublishAsOneBuffer (packet, stream, opts) {
    const p = packet as PublishLike
    if (p.cmd !== 'publish') return original(packet, stream, opts)
    const payload = simplePayload(p, opts)
    if (payload === null) return original(packet, stream, opts)
    const s = stream as CorkableStream
    // As writeToStream does: cork now, uncork on the next tick (src/connection.ts defers
    // the uncork of sockets further, to batch a whole event-loop turn).
    s.cork?.()
    const flushed = s.write(encodePublish(p.topic as string, payload, (p.qos ?? 0) as 0 | 1 | 2, p.retain === true, p.dup === true, p.messageId ?? 0))
    process.nextTick(uncork, s)
    return flushed
  }
}
