// mqtt-packet's parser buffers incoming bytes in a `bl` BufferListStream: a full
// readable-stream Duplex (ReadableState, WritableState, event emitter) per connection, of
// which the parser uses only the BufferList methods (append, consume, length, readUInt*,
// slice, toString). A plain BufferList from the same `bl` package has exactly those methods.
// Swapping it in, before the first byte is parsed, saves ~0.9 KiB of heap per connection and
// the construction of a stream per CONNECT.
import { createRequire } from 'node:module'

interface BufferListConstructor { new (): unknown, prototype: Record<string, unknown> }

// The `bl` of the mqtt-packet that Aedes's clients parse with, so the class is the one its
// parser was written against.
const fromAedes = createRequire(createRequire(import.meta.url).resolve('aedes'))
const fromMqttPacket = createRequire(fromAedes.resolve('mqtt-packet'))
const BufferList = fromMqttPacket('bl/BufferList.js') as BufferListConstructor
const USED = ['append', 'consume', 'readUInt8', 'readUInt16BE', 'readUInt32BE', 'slice', 'toString']
const usable = USED.every(method => typeof BufferList.prototype[method] === 'function')

export function useLightParserBuffer (parser: { _list: unknown }): void {
  if (usable) parser._list = new BufferList()
}
