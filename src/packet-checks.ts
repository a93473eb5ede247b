// MQTT 3.1.1 checks on incoming packets that mqtt-packet and Aedes do not make (see
// docs/CONFORMANCE.md). A violation closes that connection only, through the parser's
// error path, so it is logged and counted like any protocol error.
import { isUtf8 } from 'node:buffer'
import type { Duplex } from 'node:stream'

// The mqtt-packet 9 parser internals these checks wrap.
export interface ParserInternals {
  packet: { length: number }
  error: Error | null
  _pos: number
  _list: { slice: (start: number, end: number) => Buffer }
  _parseLength: () => boolean
  _parseString: (maybeBuffer?: boolean) => string | null
  _emitError: (err: Error) => void
}

export function guardParser (parser: ParserInternals, conn: Duplex, maxPacketSize: number, connackSent: () => boolean): void {
  const emitError = parser._emitError
  parser._emitError = function firstErrorOnly (err) {
    // The first error of a packet is the precise one; the parser's follow-ups ("Cannot parse topic") add nothing.
    if (this.error) return
    // MQTT-3.1.2-2: an unsupported protocol level gets CONNACK 0x01 before the connection closes.
    if (err.message === 'Invalid protocol version' && !connackSent()) conn.write(Buffer.from([0x20, 0x02, 0x00, 0x01]))
    emitError.call(this, Object.assign(err, { protocolError: true }))
  }

  const parseLength = parser._parseLength
  parser._parseLength = function checkedParseLength () {
    const complete = parseLength.call(this)
    if (complete && this.packet.length > maxPacketSize) {
      this._emitError(new Error(`packet too large: ${this.packet.length} bytes (limit --max-packet-size ${maxPacketSize})`))
      return false
    }
    return complete
  }

  const parseString = parser._parseString
  parser._parseString = function checkedParseString (maybeBuffer) {
    const start = this._pos + 2 // after the 2-byte length
    const result = parseString.call(this, maybeBuffer)
    if (result !== null && this._pos > start) {
      const bytes = this._list.slice(start, this._pos)
      // MQTT-1.5.3-1 (well-formed UTF-8) and MQTT-1.5.3-2 (no U+0000): topics, client ids, usernames.
      if (!isUtf8(bytes) || bytes.includes(0)) {
        this._emitError(new Error('malformed UTF-8 string: invalid encoding or U+0000 (MQTT-1.5.3-1, MQTT-1.5.3-2)'))
        return null
      }
    }
    return result
  }
}

interface AnyPacket {
  cmd: string
  qos?: number
  messageId?: number
  username?: string
  password?: Buffer
  unsubscriptions?: string[]
}

/** The rule a well-formed packet still breaks, or null. */
export function packetViolation (packet: AnyPacket): string | null {
  switch (packet.cmd) {
    case 'connect':
      if (packet.password !== undefined && packet.username === undefined) return 'password without user name (MQTT-3.1.2-22)'
      return null
    case 'publish':
      if ((packet.qos ?? 0) > 0 && !packet.messageId) return 'QoS 1/2 PUBLISH with packet identifier 0 (MQTT-2.3.1-1)'
      return null
    case 'subscribe':
      if (!packet.messageId) return 'SUBSCRIBE with packet identifier 0 (MQTT-2.3.1-1)'
      return null
    case 'unsubscribe':
      if (!packet.messageId) return 'UNSUBSCRIBE with packet identifier 0 (MQTT-2.3.1-1)'
      if (!packet.unsubscriptions || packet.unsubscriptions.length === 0) return 'UNSUBSCRIBE without a topic filter (MQTT-3.10.3-2)'
      return null
    default:
      return null
  }
}
