// `npm run bench -- --protocol 5`: the load generator's hand-made MQTT 5 PUBLISH is what
// mqtt-packet makes, and it reads an MQTT 5 PUBLISH (with properties) back.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqttPacket from 'mqtt-packet'
import { parseArgs } from '../../bench/args.js'
import { benchProtocol, setBenchProtocol } from '../../bench/protocol.js'
import { PublishTemplate, readPublish } from '../../bench/wire.js'

test('--protocol takes 4 or 5', () => {
  assert.equal(parseArgs([]).protocol, 4)
  assert.equal(parseArgs(['--protocol', '5']).protocol, 5)
  assert.throws(() => parseArgs(['--protocol', '3']), /expected 4 \(MQTT 3.1.1\) or 5/)
})

test('MQTT 5: the PUBLISH template equals mqtt-packet\'s bytes, and readPublish skips properties', () => {
  const before = benchProtocol()
  setBenchProtocol(5)
  try {
    for (const qos of [0, 1, 2] as const) {
      const tpl = new PublishTemplate('bench/t', qos, 64)
      const out = Buffer.alloc(tpl.bytes.length)
      tpl.write(out, 0, 7, 3, 42, 1234.5)
      const expected = mqttPacket.generate({ cmd: 'publish', topic: 'bench/t', payload: out.subarray(tpl.payloadOffset), qos, messageId: qos > 0 ? 7 : undefined, retain: false, dup: false }, { protocolVersion: 5 })
      assert.ok(out.equals(expected), `QoS ${qos}`)
    }
    const withProperties = mqttPacket.generate({ cmd: 'publish', topic: 'bench/t', payload: new PublishTemplate('x', 1, 16).bytes.subarray(-16).fill(0), qos: 1, messageId: 9, retain: false, dup: false, properties: { userProperties: { a: 'b' } } }, { protocolVersion: 5 })
    const parsed = readPublish(withProperties, 2, 1)
    assert.equal(parsed.id, 9)
    assert.equal(parsed.seq, 0)
  } finally {
    setBenchProtocol(before)
  }
})
