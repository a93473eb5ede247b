// One delayed message as stored: what to publish, when, and who published it. Encoded as
// one Buffer (4-byte header length, JSON header, payload) for every backend.
import { randomBytes } from 'node:crypto'
import { decodeExtras, encodeExtras, type MessageExtras } from '../../src/protocol/message-extras.js'
import type { QoS } from '../../src/protocol/types.js'

export interface DelayedRecord extends MessageExtras {
  /**
   * Sorts by due time, and messages due in the same millisecond on one node in the order they
   * were stored: zero-padded due time in ms, '-', this process's sequence number (6 hex
   * digits), 6 random hex digits (unique across nodes).
   */
  id: string
  /** The inner topic: where the message is published at release. */
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  /** Date.now() at which to publish. */
  dueAt: number
  storedAt: number
  clientId: string
  username: string | null
}

interface Header { t: string, q: QoS, r: boolean, d: number, s: number, c: string, u: string | null, x?: string }

const ID_PATTERN = /^\d{13}-[0-9a-f]{12}$/

let sequence = 0

export function newId (dueAt: number): string {
  sequence = (sequence + 1) % 0x1000000
  return `${String(dueAt).padStart(13, '0')}-${sequence.toString(16).padStart(6, '0')}${randomBytes(3).toString('hex')}`
}

export const isId = (text: string): boolean => ID_PATTERN.test(text)

/** The first id due after `time` sorts after this. */
export const idBound = (time: number): string => `${String(time).padStart(13, '0')}-~`

export const dueOf = (id: string): number => Number(id.slice(0, 13))

export function encodeRecord (r: DelayedRecord): Buffer {
  const extras = encodeExtras(r)
  const header: Header = { t: r.topic, q: r.qos, r: r.retain, d: r.dueAt, s: r.storedAt, c: r.clientId, u: r.username }
  if (extras.length > 0) header.x = extras.toString()
  const head = Buffer.from(JSON.stringify(header))
  const length = Buffer.alloc(4)
  length.writeUInt32BE(head.length)
  return Buffer.concat([length, head, r.payload])
}

/** undefined when the bytes are not a record (damaged, or written by something else). */
export function decodeRecord (id: string, bytes: Uint8Array): DelayedRecord | undefined {
  try {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const headLength = buf.readUInt32BE(0)
    const h = JSON.parse(buf.subarray(4, 4 + headLength).toString()) as Header
    const record: DelayedRecord = {
      id, topic: h.t, qos: h.q, retain: h.r, dueAt: h.d, storedAt: h.s, clientId: h.c, username: h.u,
      payload: Buffer.from(buf.subarray(4 + headLength))
    }
    return h.x !== undefined ? decodeExtras(record, Buffer.from(h.x)) : record
  } catch {
    return undefined
  }
}
