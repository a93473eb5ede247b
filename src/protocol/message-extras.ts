// A message's MQTT 5 properties and expiry deadline as bytes (JSON; Buffers such as
// Correlation Data as base64), for the places that store or send a message outside the
// persistence: the cluster route (src/cluster-emitter.ts) and the retained store
// (plugins/retained). Empty bytes when the message has neither.
import type { MessageProperties } from './types.js'

export interface MessageExtras {
  properties?: MessageProperties | null
  /** Date.now() after which the message expires. */
  messageExpiry?: number | null
}

const EMPTY = Buffer.alloc(0)

export function hasExtras (m: MessageExtras): boolean {
  return m.properties != null || m.messageExpiry != null
}

export function encodeExtras (m: MessageExtras): Buffer {
  if (!hasExtras(m)) return EMPTY
  return Buffer.from(JSON.stringify({ p: m.properties ?? undefined, e: m.messageExpiry ?? undefined },
    (_key, value: unknown) => isSerializedBuffer(value) ? { base64: Buffer.from(value.data).toString('base64') } : value))
}

/** Sets what `bytes` hold on `target`; returns it. */
export function decodeExtras<T extends MessageExtras> (target: T, bytes: Buffer | undefined): T {
  if (bytes === undefined || bytes.length === 0) return target
  const extras = JSON.parse(bytes.toString(), (_key, value: unknown) =>
    typeof value === 'object' && value !== null && 'base64' in value ? Buffer.from(String((value as { base64: string }).base64), 'base64') : value) as { p?: MessageProperties, e?: number }
  if (extras.p !== undefined) target.properties = extras.p
  if (extras.e !== undefined) target.messageExpiry = extras.e
  return target
}

const isSerializedBuffer = (value: unknown): value is { type: 'Buffer', data: number[] } =>
  typeof value === 'object' && value !== null && (value as { type?: string }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)
