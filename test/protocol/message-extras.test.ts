// The MQTT 5 properties and expiry of a message as bytes (the cluster route, the retained
// store and the log bridge keep them this way): every property comes back as it went in.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decodeExtras, encodeExtras, type MessageExtras } from '../../src/protocol/message-extras.js'

test('properties and expiry round-trip, a user property named "base64" included; none gives empty bytes', () => {
  const properties = {
    payloadFormatIndicator: true,
    contentType: 'application/json',
    responseTopic: 'replies/1',
    correlationData: Buffer.from([0, 1, 255]),
    userProperties: { base64: 'not a buffer', unit: ['celsius', 'kelvin'] }
  }
  const back = decodeExtras({}, encodeExtras({ properties, messageExpiry: 1_800_000_000_000 }))
  assert.deepEqual(back, { properties, messageExpiry: 1_800_000_000_000 })
  assert.ok(Buffer.isBuffer(back.properties?.correlationData))
  assert.equal(encodeExtras({}).length, 0)
  assert.deepEqual(decodeExtras({}, encodeExtras({ messageExpiry: 5 })), { messageExpiry: 5 })
})

test('the earlier encoding (Correlation Data as {base64}) still reads', () => {
  const old = Buffer.from(JSON.stringify({ p: { correlationData: { base64: Buffer.from('id-7').toString('base64') }, contentType: 't' } }))
  const back = decodeExtras<MessageExtras>({}, old)
  assert.equal(back.properties?.correlationData?.toString(), 'id-7')
  assert.equal(back.properties?.contentType, 't')
})
