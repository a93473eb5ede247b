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

/** What the checks need of one connection; parsers without it (MQTT.js clients in this process) are unchanged. */
export interface ParserGuard {
  maxPacketSize: number
  conn: Duplex
  /** The connection's session state (the Aedes client): whether CONNACK went out. */
  session: { readonly connackSent: boolean }
}

type GuardedParser = ParserInternals & { _swallowGuard?: ParserGuard }

const guardedPrototypes = new WeakSet<object>()

/**
 * Adds the checks to a parser. They live on the parser class's prototype, installed once,
 * and read the connection's ParserGuard: per-connection closures cost ~0.3 KiB of heap each
 * connection.
 */
export function guardParser (parser: ParserInternals, guard: ParserGuard): void {
  (parser as GuardedParser)._swallowGuard = guard
  const proto = Object.getPrototypeOf(parser) as GuardedParser
  if (guardedPrototypes.has(proto)) return
  guardedPrototypes.add(proto)

  const emitError = proto._emitError
  proto._emitError = function firstErrorOnly (this: GuardedParser, err) {
    const guard = this._swallowGuard
    if (guard === undefined) return emitError.call(this, err)
    // The first error of a packet is the precise one; the parser's follow-ups ("Cannot parse topic") add nothing.
    if (this.error) return
    // MQTT-3.1.2-2: an unsupported protocol level gets CONNACK 0x01 before the connection closes.
    if (err.message === 'Invalid protocol version' && !guard.session.connackSent) guard.conn.write(Buffer.from([0x20, 0x02, 0x00, 0x01]))
    emitError.call(this, Object.assign(err, { protocolError: true }))
  }

  const parseLength = proto._parseLength
  proto._parseLength = function checkedParseLength (this: GuardedParser) {
    const complete = parseLength.call(this)
    const guard = this._swallowGuard
    if (complete && guard !== undefined && this.packet.length > guard.maxPacketSize) {
      this._emitError(new Error(`packet too large: ${this.packet.length} bytes (limit --max-packet-size ${guard.maxPacketSize})`))
      return false
    }
    return complete
  }

  const parseString = proto._parseString
  proto._parseString = function checkedParseString (this: GuardedParser, maybeBuffer) {
    const start = this._pos + 2 // after the 2-byte length
    const result = parseString.call(this, maybeBuffer)
    if (result !== null && this._pos > start && this._swallowGuard !== undefined) {
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
