// mqtt-packet's parser buffers incoming bytes in a `bl` BufferListStream: a full
// readable-stream Duplex (ReadableState, WritableState, event emitter) per connection, of
// which the parser uses only the BufferList methods (append, consume, length, readUInt*,
// slice, toString). A plain BufferList from the same `bl` package has exactly those methods.
// Swapping it in, before the first byte is parsed, saves ~0.8 KiB of heap per connection and
// the construction of a stream per CONNECT.
import { createRequire } from 'node:module'

interface BufferListConstructor { new (): unknown }

// The `bl` that mqtt-packet itself resolves, so that the class matches what its parser expects.
const fromMqttPacket = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'))
const BufferList = fromMqttPacket('bl/BufferList.js') as BufferListConstructor

export function useLightParserBuffer (parser: { _list: unknown }): void {
  parser._list = new BufferList()
}
