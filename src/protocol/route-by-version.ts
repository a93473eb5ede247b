// Which side handles a new connection, decided by its first bytes: a CONNECT with protocol
// level 5 goes to the protocol core (src/protocol/connection.ts); anything else (MQTT 3.1 and
// 3.1.1, or bytes that are not a CONNECT) to Aedes's client, unchanged. This is a step of the
// move to the protocol core (issue #15): MQTT 3.1/3.1.1 follow once the core passes their
// whole test suite, and then this file goes.
import type { Duplex } from 'node:stream'

/** The protocol level of the CONNECT these bytes start, null if they do not start one, undefined if more bytes are needed. */
export function connectProtocolLevel (bytes: Buffer): number | null | undefined {
  if (bytes.length === 0) return undefined
  if (bytes[0] !== 0x10) return null
  let i = 1
  for (; i < bytes.length && i < 5 && (bytes[i] & 0x80) !== 0; i++);
  if (i >= bytes.length) return i >= 5 ? null : undefined
  i++ // past the last Remaining Length byte
  if (bytes.length < i + 2) return undefined
  const nameLength = bytes.readUInt16BE(i)
  if (nameLength > 6) return null // "MQTT" or "MQIsdp"
  const levelAt = i + 2 + nameLength
  return bytes.length > levelAt ? bytes[levelAt] : undefined
}

/**
 * Reads until the protocol level is known (or `timeoutMs` passes: null), puts the bytes
 * back into the stream, paused, and calls `route`.
 */
export function routeByProtocolLevel (stream: Duplex, timeoutMs: number, route: (level: number | null) => void): void {
  let buffered: Buffer = Buffer.alloc(0)
  const finish = (level: number | null): void => {
    stream.off('data', onData)
    stream.off('close', onClose)
    clearTimeout(timer)
    stream.pause()
    if (buffered.length > 0) stream.unshift(buffered)
    route(level)
  }
  const onData = (chunk: Buffer): void => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
    const level = connectProtocolLevel(buffered)
    if (level !== undefined) finish(level)
  }
  const onClose = (): void => finish(null)
  const timer = setTimeout(finish, timeoutMs, null)
  stream.on('data', onData)
  stream.once('close', onClose)
}
