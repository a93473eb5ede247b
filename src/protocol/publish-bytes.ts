// A PUBLISH without MQTT 5 properties as one Buffer, the hot path of every delivery: the
// same bytes mqtt-packet's generate() makes (test/broker/publish-encoding.test.ts checks every
// length boundary), without its per-packet option handling and property code; and the
// 4-byte acknowledgements. Every other packet (an MQTT 5 PUBLISH with properties included)
// is encoded by mqtt-packet.

/**
 * Encodes a PUBLISH; `messageId` is written for QoS 1 and 2 only. `v5`: an MQTT 5 PUBLISH,
 * whose properties (none) take one byte 0.
 */
export function encodePublish (topic: string, payload: Buffer, qos: 0 | 1 | 2, retain: boolean, dup: boolean, messageId: number, v5 = false, topicAlias = 0): Buffer {
  const topicLength = Buffer.byteLength(topic)
  // MQTT 5 properties: none (length 0), or a Topic Alias (length 3: identifier 0x23, two bytes).
  const propertyBytes = !v5 ? 0 : topicAlias > 0 ? 4 : 1
  const remaining = 2 + topicLength + (qos > 0 ? 2 : 0) + propertyBytes + payload.length
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
  if (topicAlias > 0) {
    bytes[offset++] = 3
    bytes[offset++] = 0x23
    bytes.writeUInt16BE(topicAlias, offset)
    offset += 2
  } else if (v5) {
    bytes[offset++] = 0
  }
  payload.copy(bytes, offset)
  return bytes
}

/** First byte of PUBACK, PUBREC, PUBREL (flags 0010, MQTT-3.6.1-1) and PUBCOMP. */
export const ACK_TYPES: Partial<Record<string, number>> = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 }

/** A successful acknowledgement: type, length 2, packet id. */
export function encodeAck (firstByte: number, messageId: number): Buffer {
  return Buffer.from([firstByte, 2, messageId >> 8, messageId & 0xff])
}

/**
 * The bytes of the last QoS 0 message encoded, shared by every subscriber that gets it with
 * the same retain flag and protocol (MQTT 5: without properties): the router hands one
 * message to all its subscribers in a row, so one entry per protocol is enough. (Before the
 * protocol core, Aedes encoded a copy per subscriber: in the fan-out benchmark that was most
 * of the broker's garbage.)
 */
export class SharedQoS0Bytes {
  private readonly v3 = new LastEncoded(false)
  private readonly v5 = new LastEncoded(true)

  of (message: { topic: string, payload: Buffer }, retain: boolean, v5: boolean): Buffer {
    return (v5 ? this.v5 : this.v3).of(message, retain)
  }
}

class LastEncoded {
  private message: object | null = null
  private retain = false
  private bytes: Buffer = Buffer.alloc(0)

  constructor (private readonly v5: boolean) {}

  of (message: { topic: string, payload: Buffer }, retain: boolean): Buffer {
    if (message !== this.message || retain !== this.retain) {
      this.message = message
      this.retain = retain
      this.bytes = encodePublish(message.topic, message.payload, 0, retain, false, 0, this.v5)
    }
    return this.bytes
  }
}
