// Record framing: every record on disk is [u32 body length][u32 CRC32 of body][body].
// The body carries a fixed header, then topic, client id, username, extras and payload bytes:
//
//   0  u8  version (1 or 2)     1  u8  flags: qos (bits 0-1), retain (2), dup (3),
//   2  u16 MQTT packet id                      has client (4), has username (5), has extras (6)
//   4  u64 offset               12 u64 time (ms since epoch)
//   20 u16 topic length         22 u16 client id length      24 u16 username length
//   26 topic | client id | username | [u32 extras length | extras] | payload
//
// Extras (flag 6, version 2 only) are the message's MQTT 5 properties and expiry deadline,
// encoded by src/protocol/message-extras.ts (JSON). A record without them is written as
// version 1, byte for byte what earlier versions wrote (and an earlier version still reads).
// The offset and CRC are written at flush time (see log.ts), so offsets are assigned in the
// order records reach the file and a failed write leaves no gap.
import * as zlib from 'node:zlib'
import { decodeExtras, encodeExtras, type MessageExtras } from '../../../src/protocol/message-extras.js'
import type { MessageProperties } from '../../../src/protocol/types.js'

export const FRAME_HEADER = 8
export const BODY_HEADER = 26
const VERSION_PLAIN = 1
const VERSION_EXTRAS = 2
const HAS_EXTRAS = 64
/** Anything larger is a torn or corrupt length field, not a record. */
export const MAX_BODY = 256 * 1024 * 1024

export interface LogRecord {
  offset: number
  /** Broker time of the append, ms since epoch. */
  time: number
  topic: string
  payload: Buffer
  qos: number
  retain: boolean
  clientId: string | null
  username: string | null
  /** MQTT 5 PUBLISH properties; absent when the message had none. */
  properties?: MessageProperties
  /** The message's expiry deadline (ms since epoch, from its Message Expiry Interval); absent
   *  when none. Kept as history: the log hands out a record after its deadline too. */
  messageExpiry?: number
}

/** What the bridge appends; offset and time are filled in by the log. */
export interface RecordInput extends MessageExtras {
  topic: string
  payload: Buffer | string
  qos: number
  retain: boolean
  dup?: boolean
  messageId?: number
  clientId: string | null
  username: string | null
}

type Crc32 = (data: Uint8Array, initial?: number) => number
const nativeCrc32 = (zlib as unknown as { crc32?: Crc32 }).crc32

// Table CRC32 (IEEE) for Node versions before 20.15, which lack zlib.crc32.
let table: Int32Array | null = null
function tableCrc32 (data: Uint8Array, initial = 0): number {
  if (!table) {
    table = new Int32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      table[n] = c
    }
  }
  let crc = ~initial
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >>> 8)
  return ~crc >>> 0
}

export const crc32: Crc32 = nativeCrc32 ?? tableCrc32

function writeU64 (buf: Buffer, value: number, at: number): void {
  buf.writeUInt32BE(Math.floor(value / 0x100000000), at)
  buf.writeUInt32BE(value >>> 0, at + 4)
}

function readU64 (buf: Buffer, at: number): number {
  return buf.readUInt32BE(at) * 0x100000000 + buf.readUInt32BE(at + 4)
}

/** Encodes a record into one frame; offset and CRC are left for sealFrame. */
export function encodeFrame (input: RecordInput, time: number): Buffer {
  const payload = typeof input.payload === 'string' ? Buffer.from(input.payload) : input.payload
  const topicLen = Buffer.byteLength(input.topic)
  const clientLen = input.clientId === null ? 0 : Buffer.byteLength(input.clientId)
  const userLen = input.username === null ? 0 : Buffer.byteLength(input.username)
  const extras = encodeExtras(input)
  const extrasLen = extras.length > 0 ? 4 + extras.length : 0
  const bodyLen = BODY_HEADER + topicLen + clientLen + userLen + extrasLen + payload.length
  const buf = Buffer.allocUnsafe(FRAME_HEADER + bodyLen)
  buf.writeUInt32BE(bodyLen, 0)
  const b = FRAME_HEADER
  buf[b] = extrasLen > 0 ? VERSION_EXTRAS : VERSION_PLAIN
  buf[b + 1] = (input.qos & 3) | (input.retain ? 4 : 0) | (input.dup ? 8 : 0) |
    (input.clientId !== null ? 16 : 0) | (input.username !== null ? 32 : 0) | (extrasLen > 0 ? HAS_EXTRAS : 0)
  buf.writeUInt16BE((input.messageId ?? 0) & 0xffff, b + 2)
  writeU64(buf, time, b + 12)
  buf.writeUInt16BE(topicLen, b + 20)
  buf.writeUInt16BE(clientLen, b + 22)
  buf.writeUInt16BE(userLen, b + 24)
  let at = b + BODY_HEADER
  at += buf.write(input.topic, at)
  if (input.clientId !== null) at += buf.write(input.clientId, at)
  if (input.username !== null) at += buf.write(input.username, at)
  if (extrasLen > 0) {
    at = buf.writeUInt32BE(extras.length, at)
    at += extras.copy(buf, at)
  }
  payload.copy(buf, at)
  return buf
}

/** Writes the offset into an encoded frame and computes its CRC. */
export function sealFrame (frame: Buffer, offset: number): void {
  writeU64(frame, offset, FRAME_HEADER + 4)
  frame.writeUInt32BE(crc32(frame.subarray(FRAME_HEADER)), 4)
}

export function frameTime (frame: Buffer): number {
  return readU64(frame, FRAME_HEADER + 12)
}

export type FrameCheck =
  | { ok: true, size: number, offset: number, time: number }
  | { ok: false, reason: 'incomplete' | 'corrupt' }

/** Checks the frame starting at `pos` in `buf` (length, CRC) without decoding strings. */
export function checkFrame (buf: Buffer, pos: number, end = buf.length): FrameCheck {
  if (end - pos < FRAME_HEADER) return { ok: false, reason: 'incomplete' }
  const bodyLen = buf.readUInt32BE(pos)
  if (bodyLen < BODY_HEADER || bodyLen > MAX_BODY) return { ok: false, reason: 'corrupt' }
  if (end - pos < FRAME_HEADER + bodyLen) return { ok: false, reason: 'incomplete' }
  const body = buf.subarray(pos + FRAME_HEADER, pos + FRAME_HEADER + bodyLen)
  if (crc32(body) !== buf.readUInt32BE(pos + 4) || !knownLayout(body)) return { ok: false, reason: 'corrupt' }
  return { ok: true, size: FRAME_HEADER + bodyLen, offset: readU64(body, 4), time: readU64(body, 12) }
}

/** Version 1 without extras, or version 2 (with or without them). */
function knownLayout (body: Buffer): boolean {
  return body[0] === VERSION_EXTRAS || (body[0] === VERSION_PLAIN && (body[1] & HAS_EXTRAS) === 0)
}

/** Decodes a frame already checked with checkFrame. The payload is copied out of `buf`. */
export function decodeFrame (buf: Buffer, pos: number): LogRecord {
  const b = pos + FRAME_HEADER
  const bodyLen = buf.readUInt32BE(pos)
  const flags = buf[b + 1]
  const topicLen = buf.readUInt16BE(b + 20)
  const clientLen = buf.readUInt16BE(b + 22)
  const userLen = buf.readUInt16BE(b + 24)
  let at = b + BODY_HEADER
  const topic = buf.toString('utf8', at, at + topicLen)
  at += topicLen
  const clientId = flags & 16 ? buf.toString('utf8', at, at + clientLen) : null
  at += clientLen
  const username = flags & 32 ? buf.toString('utf8', at, at + userLen) : null
  at += userLen
  let extras: Buffer | undefined
  if (flags & HAS_EXTRAS) {
    const extrasLen = buf.readUInt32BE(at)
    extras = buf.subarray(at + 4, at + 4 + extrasLen)
    at += 4 + extrasLen
  }
  return decodeExtras<LogRecord>({
    offset: readU64(buf, b + 4),
    time: readU64(buf, b + 12),
    topic,
    payload: Buffer.from(buf.subarray(at, b + bodyLen)),
    qos: flags & 3,
    retain: (flags & 4) !== 0,
    clientId,
    username
  }, extras)
}
