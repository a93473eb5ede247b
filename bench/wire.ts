// MQTT 3.1.1 and 5.0 wire helpers for the load generator (bench/protocol.ts picks the
// version). CONNECT/SUBSCRIBE go through mqtt-packet; PUBLISH and the 4-byte acks (a
// success needs no reason code in MQTT 5 either) are encoded by hand and incoming frames are
// split by a small parser, because the generator's per-message cost must stay far below the broker's.
import mqttPacket from 'mqtt-packet'
import { benchProtocol } from './protocol.js'

export const CONNACK = 2
export const PUBLISH = 3
export const PUBACK = 4
export const PUBREC = 5
export const PUBREL = 6
export const PUBCOMP = 7
export const SUBACK = 9
export const PINGRESP = 13

/** Bytes at the start of every bench payload: publisher index, sequence, send time (ns, monotonic). */
export const HEADER_BYTES = 16

export function encodeConnect (clientId: string, keepalive: number, clean: boolean, username?: string, password?: string): Buffer {
  return mqttPacket.generate({
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: benchProtocol(), clientId, keepalive, clean,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password: Buffer.from(password) } : {})
  })
}

export function encodeSubscribe (messageId: number, topic: string, qos: 0 | 1 | 2): Buffer {
  return mqttPacket.generate({ cmd: 'subscribe', messageId, subscriptions: [{ topic, qos }] }, { protocolVersion: benchProtocol() })
}

/** Where the first reason code of a SUBACK body starts (MQTT 5: after the properties). */
export function subackCodesAt (buf: Buffer, start: number): number {
  return benchProtocol() === 5 ? skipProperties(buf, start + 2) : start + 2
}

/** Skips an MQTT 5 properties block (Variable Byte Integer length, then the properties). */
function skipProperties (buf: Buffer, at: number): number {
  let length = 0
  let mul = 1
  for (;;) {
    const byte = buf[at++]
    length += (byte & 0x7f) * mul
    mul *= 128
    if ((byte & 0x80) === 0) return at + length
  }
}

export const PINGREQ_BYTES = Buffer.from([0xc0, 0])
export const DISCONNECT_BYTES = Buffer.from([0xe0, 0])

/** Writes a 4-byte ack (PUBACK, PUBREC, PUBREL, PUBCOMP) into out at offset. */
export function writeAck (out: Buffer, offset: number, type: number, messageId: number): void {
  out[offset] = (type << 4) | (type === PUBREL ? 2 : 0)
  out[offset + 1] = 2
  out[offset + 2] = messageId >> 8
  out[offset + 3] = messageId & 0xff
}

function varintLength (n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4
}

/**
 * A PUBLISH packet laid out once per connection; each message copies it and patches the
 * packet id and the payload header, so no per-message object or string is built.
 */
export class PublishTemplate {
  readonly bytes: Buffer
  readonly idOffset: number // -1 for QoS 0
  readonly payloadOffset: number

  constructor (topic: string, qos: 0 | 1 | 2, payloadSize: number) {
    const topicBytes = Buffer.from(topic)
    const size = Math.max(payloadSize, HEADER_BYTES)
    const v5 = benchProtocol() === 5 // an empty properties block: one byte 0
    const remaining = 2 + topicBytes.length + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + size
    const b = Buffer.alloc(1 + varintLength(remaining) + remaining)
    let o = 0
    b[o++] = 0x30 | (qos << 1)
    let r = remaining
    do {
      let byte = r % 128
      r = Math.floor(r / 128)
      if (r > 0) byte |= 0x80
      b[o++] = byte
    } while (r > 0)
    b.writeUInt16BE(topicBytes.length, o); o += 2
    topicBytes.copy(b, o); o += topicBytes.length
    this.idOffset = qos > 0 ? o : -1
    if (qos > 0) o += 2
    if (v5) b[o++] = 0
    this.payloadOffset = o
    this.bytes = b
  }

  /** Writes one message at `at` in `out` (out must have bytes.length room). */
  write (out: Buffer, at: number, messageId: number, pubIndex: number, seq: number, sentNs: number): void {
    this.bytes.copy(out, at)
    if (this.idOffset >= 0) out.writeUInt16BE(messageId, at + this.idOffset)
    const p = at + this.payloadOffset
    out.writeUInt32BE(pubIndex, p)
    out.writeUInt32BE(seq, p + 4)
    out.writeDoubleBE(sentNs, p + 8)
  }
}

/** A monotonic clock shared by all processes on the machine (CLOCK_MONOTONIC), in ns. */
export function nowNs (): number {
  return Number(process.hrtime.bigint())
}

export type FrameHandler = (type: number, flags: number, buf: Buffer, start: number, end: number) => void

/** Splits a byte stream into MQTT frames; the handler sees the body as buf[start, end). */
export class FrameParser {
  private rest: Buffer | null = null

  constructor (private readonly onFrame: FrameHandler) {}

  push (chunk: Buffer): void {
    const buf = this.rest === null ? chunk : Buffer.concat([this.rest, chunk])
    let pos = 0
    const len = buf.length
    while (pos + 2 <= len) {
      let remaining = 0
      let mul = 1
      let i = pos + 1
      let complete = false
      for (let k = 0; k < 4 && i < len; k++, i++) {
        const byte = buf[i]
        remaining += (byte & 0x7f) * mul
        mul *= 128
        if ((byte & 0x80) === 0) { complete = true; i++; break }
      }
      if (!complete || i + remaining > len) break
      this.onFrame(buf[pos] >> 4, buf[pos] & 0x0f, buf, i, i + remaining)
      pos = i + remaining
    }
    this.rest = pos === len ? null : buf.subarray(pos)
  }
}

/** Reads the bench header of a PUBLISH body: [topicLen][topic][id?][pubIndex][seq][sentNs]. */
export function readPublish (buf: Buffer, start: number, qos: number): { id: number, pubIndex: number, seq: number, sentNs: number } {
  const topicLen = buf.readUInt16BE(start)
  let o = start + 2 + topicLen
  let id = 0
  if (qos > 0) { id = buf.readUInt16BE(o); o += 2 }
  if (benchProtocol() === 5) o = skipProperties(buf, o)
  return { id, pubIndex: buf.readUInt32BE(o), seq: buf.readUInt32BE(o + 4), sentNs: buf.readDoubleBE(o + 8) }
}
