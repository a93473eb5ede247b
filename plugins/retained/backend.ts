// What every retained-store backend (embedded LevelDB, memory, Redis) offers the store,
// and the small binary header kept next to each payload.
//
// A backend keeps two things per topic: the metadata (qos, stored time, payload size, MQTT 5
// expiry), which is read back at start to rebuild the in-memory index, and the stored bytes,
// read only when a message is delivered or shown by the admin API: the payload itself, or
// for a message with MQTT 5 properties or an expiry an envelope (sealPayload) holding both.
// The envelope says what it is (its first bytes), so the bytes are read right even when the
// message changes between reading the index and reading the bytes.
import { decodeExtras, encodeExtras, hasExtras, type MessageExtras } from '../../src/protocol/message-extras.js'

export interface RetainedMeta {
  qos: 0 | 1 | 2
  /** Milliseconds since the epoch when the broker stored it. */
  storedAt: number
  /** Payload bytes. */
  size: number
  /** Redis only: the store-wide sequence number of the write (orders updates between nodes). */
  seq: number
  /** MQTT 5 Message Expiry: Date.now() after which it is not delivered; absent or 0 = never. */
  expiresAt?: number
}

export type WriteOp =
  | { type: 'put', topic: string, meta: RetainedMeta, payload: Buffer }
  | { type: 'del', topic: string }
  /** Delete only when the topic still holds the message stored at `storedAt` (expiry sweep). */
  | { type: 'expire', topic: string, storedAt: number }

/** Where a backend reports what is stored, in the order it was stored. The store's index implements it. */
export interface IndexSink {
  put: (topic: string, meta: RetainedMeta) => void
  del: (topic: string) => void
  /** Current metadata of a topic (for conditional deletes), or undefined. */
  get: (topic: string) => RetainedMeta | undefined
  /** Forget everything (before a full reload). */
  clear: () => void
}

export interface RetainedBackend {
  readonly name: string
  /** Loads every stored topic into the sink; called once, before anything else. */
  open: (sink: IndexSink) => Promise<void>
  /**
   * Stores the operations in order. Resolves when they are durable (embedded: handed to
   * the OS, so they survive kill -9; Redis: acknowledged) and applied to the sink.
   */
  write: (ops: WriteOp[]) => Promise<void>
  /** Payloads of the given topics, undefined where a topic holds nothing (any more). */
  payloads: (topics: string[]) => Promise<Array<Buffer | undefined>>
  /** Whether the one-time import from the session storage is done (see migrate.ts). */
  imported: () => Promise<boolean>
  markImported: () => Promise<void>
  close: () => Promise<void>
}

export const META_BYTES = 14
const META_V2_BYTES = 23

/**
 * Version 1: qos u8 | 1 u8 | storedAt f64 | size u32. Version 2 (a message with an MQTT 5
 * expiry) adds expiresAt f64 | flags u8 (none defined yet, 0). A message without an expiry
 * is still written as version 1, which older versions of Swallow read.
 */
export function encodeMeta (meta: RetainedMeta): Buffer {
  const v2 = (meta.expiresAt ?? 0) !== 0
  const buf = Buffer.allocUnsafe(v2 ? META_V2_BYTES : META_BYTES)
  buf.writeUInt8(meta.qos, 0)
  buf.writeUInt8(v2 ? 2 : 1, 1)
  buf.writeDoubleBE(meta.storedAt, 2)
  buf.writeUInt32BE(meta.size, 10)
  if (v2) {
    buf.writeDoubleBE(meta.expiresAt ?? 0, 14)
    buf.writeUInt8(0, 22)
  }
  return buf
}

export function decodeMeta (bytes: Uint8Array, seq = 0): RetainedMeta | undefined {
  const version = bytes[1]
  if (!(version === 1 && bytes.length >= META_BYTES) && !(version === 2 && bytes.length >= META_V2_BYTES)) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const meta: RetainedMeta = { qos: (bytes[0] & 3) as 0 | 1 | 2, storedAt: view.getFloat64(2), size: view.getUint32(10), seq }
  if (version === 2) {
    const expiresAt = view.getFloat64(14)
    if (expiresAt !== 0) meta.expiresAt = expiresAt
  }
  return meta
}

export interface StoredMessage extends MessageExtras { payload: Buffer }

/** The first bytes of an envelope. A plain payload that happens to start with them is stored in an envelope too, so the bytes never mean two things. */
const ENVELOPE = Buffer.from([0x00, 0x53, 0x57, 0x52, 0x32, 0x00]) // \0 S W R 2 \0

/** The bytes to store for a message: the payload, or with MQTT 5 extras the envelope: ENVELOPE | extrasLength u32 | extras | payload. */
export function sealPayload (message: StoredMessage): Buffer {
  if (!hasExtras(message) && !startsWithEnvelope(message.payload)) return message.payload
  const extras = encodeExtras(message)
  const length = Buffer.allocUnsafe(4)
  length.writeUInt32BE(extras.length, 0)
  return Buffer.concat([ENVELOPE, length, extras, message.payload])
}

/** The message sealPayload stored in `bytes`. */
export function openPayload (bytes: Buffer): StoredMessage {
  if (!startsWithEnvelope(bytes)) return { payload: bytes }
  const at = ENVELOPE.length
  const length = bytes.readUInt32BE(at)
  return decodeExtras<StoredMessage>({ payload: bytes.subarray(at + 4 + length) }, bytes.subarray(at + 4, at + 4 + length))
}

const startsWithEnvelope = (bytes: Buffer): boolean => bytes.length >= ENVELOPE.length + 4 && ENVELOPE.equals(bytes.subarray(0, ENVELOPE.length))
