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
  const { correlationData, ...rest } = m.properties ?? {}
  // Correlation Data is the one Buffer among the properties: it travels beside them as base64
  // (a reviver that turned every {base64: ...} object into a Buffer also caught a user
  // property named "base64").
  return Buffer.from(JSON.stringify({
    p: m.properties != null ? rest : undefined,
    c: correlationData != null ? Buffer.from(correlationData).toString('base64') : undefined,
    e: m.messageExpiry ?? undefined
  }))
}

/** Sets what `bytes` hold on `target`; returns it. */
export function decodeExtras<T extends MessageExtras> (target: T, bytes: Buffer | undefined): T {
  if (bytes === undefined || bytes.length === 0) return target
  const extras = JSON.parse(bytes.toString()) as { p?: MessageProperties & { correlationData?: unknown }, c?: string, e?: number }
  if (extras.p !== undefined) {
    const properties: MessageProperties = extras.p
    if (extras.c !== undefined) properties.correlationData = Buffer.from(extras.c, 'base64')
    else if (isOldBase64(extras.p.correlationData)) properties.correlationData = Buffer.from(extras.p.correlationData.base64, 'base64')
    target.properties = properties
  }
  if (extras.e !== undefined) target.messageExpiry = extras.e
  return target
}

/** The encoding before 2026-12-03 ({base64: ...} in place of the Buffer), still read from cluster route entries in flight. */
const isOldBase64 = (value: unknown): value is { base64: string } =>
  typeof value === 'object' && value !== null && typeof (value as { base64?: unknown }).base64 === 'string'
