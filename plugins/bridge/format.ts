// How records leave the bridge: JSON (HTTP NDJSON, SSE, CLI --format json) and one text
// line (CLI --format text, without MQTT 5 properties); and how a "from" position is written by users.
import { isUtf8 } from 'node:buffer'
import type { MessageProperties } from '../../src/protocol/types.js'
import type { LogRecord } from './log/record.js'

/** MQTT 5 properties in JSON: as recorded, with Correlation Data as base64. */
export type PropertiesJson = Omit<MessageProperties, 'correlationData'> & { correlationData?: string }

export interface RecordJson {
  offset: number
  time: string
  topic: string
  /** The payload as text when it is valid UTF-8, else base64 (see encoding). */
  payload: string
  encoding: 'utf8' | 'base64'
  qos: number
  retain: boolean
  clientId: string | null
  username: string | null
  /** Only on records of messages that had MQTT 5 properties. */
  properties?: PropertiesJson
  /** The message's expiry deadline (ISO time), only when it had a Message Expiry Interval. */
  messageExpiry?: string
}

export function recordToJson (r: LogRecord): RecordJson {
  const text = isUtf8(r.payload)
  const json: RecordJson = {
    offset: r.offset,
    time: new Date(r.time).toISOString(),
    topic: r.topic,
    payload: r.payload.toString(text ? 'utf8' : 'base64'),
    encoding: text ? 'utf8' : 'base64',
    qos: r.qos,
    retain: r.retain,
    clientId: r.clientId,
    username: r.username
  }
  if (r.properties !== undefined) json.properties = propertiesToJson(r.properties)
  if (r.messageExpiry !== undefined) json.messageExpiry = new Date(r.messageExpiry).toISOString()
  return json
}

export function recordFromJson (j: RecordJson): LogRecord {
  const record: LogRecord = {
    offset: j.offset,
    time: Date.parse(j.time),
    topic: j.topic,
    payload: Buffer.from(j.payload, j.encoding === 'base64' ? 'base64' : 'utf8'),
    qos: j.qos,
    retain: j.retain,
    clientId: j.clientId,
    username: j.username
  }
  if (j.properties !== undefined) record.properties = propertiesFromJson(j.properties)
  if (j.messageExpiry !== undefined) record.messageExpiry = Date.parse(j.messageExpiry)
  return record
}

function propertiesToJson (p: MessageProperties): PropertiesJson {
  const { correlationData, ...rest } = p
  return correlationData === undefined ? rest : { ...p, correlationData: correlationData.toString('base64') }
}

function propertiesFromJson (p: PropertiesJson): MessageProperties {
  const { correlationData, ...rest } = p
  return correlationData === undefined ? rest : { ...p, correlationData: Buffer.from(correlationData, 'base64') }
}

/** offset, time, topic, payload as text (one line; control characters escaped). */
export function recordToText (r: LogRecord): string {
  const payload = isUtf8(r.payload)
    ? r.payload.toString('utf8').replace(/[\x00-\x1f\x7f]/g, c => c === '\n' ? '\\n' : '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'))
    : `<${r.payload.length} bytes binary>`
  return `${r.offset} ${new Date(r.time).toISOString()} ${r.topic} ${payload}`
}

export type FromSpec = { kind: 'earliest' } | { kind: 'latest' } | { kind: 'offset', offset: number } | { kind: 'time', ms: number }

/** earliest | latest | an offset | an ISO-8601 time; null when it is none of them. */
export function parseFrom (text: string): FromSpec | null {
  if (text === 'earliest') return { kind: 'earliest' }
  if (text === 'latest') return { kind: 'latest' }
  if (/^\d+$/.test(text)) return { kind: 'offset', offset: Number(text) }
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const ms = Date.parse(text)
    if (Number.isFinite(ms)) return { kind: 'time', ms }
  }
  return null
}

export const FROM_HELP = 'earliest, latest, an offset, or an ISO-8601 time (2026-01-31T12:00:00Z)'

/** Turns a FromSpec into an offset, given the stream's bounds and time lookup. */
export async function resolveFrom (spec: FromSpec, bounds: () => Promise<{ first: number, next: number }>, forTime: (ms: number) => Promise<number>): Promise<number> {
  switch (spec.kind) {
    case 'earliest': return (await bounds()).first
    case 'latest': return (await bounds()).next
    case 'offset': return spec.offset
    case 'time': return await forTime(spec.ms)
  }
}
