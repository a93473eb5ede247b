// What every retained-store backend (embedded LevelDB, memory, Redis) offers the store,
// and the small binary header kept next to each payload.
//
// A backend keeps two things per topic: the metadata (qos, stored time, payload size),
// which is read back at start to rebuild the in-memory index, and the payload, which is
// read only when a message is delivered or shown by the admin API.

export interface RetainedMeta {
  qos: 0 | 1 | 2
  /** Milliseconds since the epoch when the broker stored it. */
  storedAt: number
  /** Payload bytes. */
  size: number
  /** Redis only: the store-wide sequence number of the write (orders updates between nodes). */
  seq: number
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

/** qos u8 | version u8 | storedAt f64 | size u32 */
export function encodeMeta (meta: RetainedMeta): Buffer {
  const buf = Buffer.allocUnsafe(META_BYTES)
  buf.writeUInt8(meta.qos, 0)
  buf.writeUInt8(1, 1)
  buf.writeDoubleBE(meta.storedAt, 2)
  buf.writeUInt32BE(meta.size, 10)
  return buf
}

export function decodeMeta (bytes: Uint8Array, seq = 0): RetainedMeta | undefined {
  if (bytes.length < META_BYTES || bytes[1] !== 1) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return { qos: (bytes[0] & 3) as 0 | 1 | 2, storedAt: view.getFloat64(2), size: view.getUint32(10), seq }
}
