// The PUBLISH a subscriber gets for a routed message (src/protocol/deliver.ts outgoingPublish):
// MQTT 5 properties only when the message has some for it, the remaining expiry from the clock
// at delivery, and nothing MQTT 5 for a 3.1.1 subscriber.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Connection } from '../../src/protocol/connection.js'
import { outgoingPublish } from '../../src/protocol/deliver.js'
import { queuedCopy } from '../../src/protocol/queued-at.js'
import type { RoutedPacket } from '../../src/protocol/types.js'

const v5 = { version: 5 } as unknown as Connection
const v4 = { version: 4 } as unknown as Connection

function message (extra: Partial<RoutedPacket> = {}): RoutedPacket {
  return { cmd: 'publish', topic: 'plant/7', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, brokerId: 'b', brokerCounter: 3, ...extra }
}

/** Runs `fn` with Date.now() at `now` (or throwing, for null), counting its calls. */
function withClock<T> (now: number | null, fn: () => T): { result: T, reads: number } {
  const real = Date.now
  let reads = 0
  Date.now = () => {
    reads++
    if (now === null) throw new Error('the clock was read')
    return now
  }
  try {
    return { result: fn(), reads }
  } finally {
    Date.now = real
  }
}

test('an MQTT 5 delivery of a message without properties, expiry or subscription identifiers carries no properties and does not read the clock', () => {
  const { result: out, reads } = withClock(null, () => outgoingPublish(v5, message(), 1, false, null))
  assert.equal(reads, 0)
  assert.equal(out.properties, undefined)
  assert.deepEqual({ ...out }, { cmd: 'publish', topic: 'plant/7', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, brokerId: 'b', brokerCounter: 3 })
})

test('an MQTT 5 delivery gets the remaining expiry (whole seconds, at least 1), the publisher\'s properties and its subscription identifiers', () => {
  const now = 1_800_000_000_000
  const expiring = message({ messageExpiry: now + 4_200, properties: { contentType: 'text/plain', userProperties: { unit: 'C' } } })
  const { result: out, reads } = withClock(now, () => outgoingPublish(v5, expiring, 1, false, [7]))
  assert.equal(reads, 1)
  assert.deepEqual(out.properties, { messageExpiryInterval: 5, contentType: 'text/plain', userProperties: { unit: 'C' }, subscriptionIdentifier: 7 })
  assert.equal(out.messageExpiry, now + 4_200)
  const late = withClock(now + 4_199, () => outgoingPublish(v5, expiring, 1, false, [1, 2])).result
  assert.deepEqual(late.properties, { messageExpiryInterval: 1, contentType: 'text/plain', userProperties: { unit: 'C' }, subscriptionIdentifier: [1, 2] })
  const onlyIds = withClock(null, () => outgoingPublish(v5, message(), 0, false, [9])).result
  assert.deepEqual(onlyIds.properties, { subscriptionIdentifier: 9 })
})

test('a message read back from a stored queue keeps its queued time but sends no properties of Swallow\'s own', () => {
  const stored = queuedCopy(message(), 1_700_000_000_000)
  const out = withClock(null, () => outgoingPublish(v5, stored, 1, false, null)).result
  assert.equal(out.properties, undefined)
  assert.equal(out.receivedAt, 1_700_000_000_000)
})

test('an MQTT 3.1.1 delivery carries no properties, whatever the message has', () => {
  const rich = message({ messageExpiry: Date.now() + 60_000, properties: { contentType: 'text/plain' } })
  const out = outgoingPublish(v4, rich, 1, true, [3])
  assert.equal(out.properties, undefined)
  assert.equal(out.retain, true)
})
