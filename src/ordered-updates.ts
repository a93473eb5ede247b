// Storage operations whose completion order decides the order of packets on the wire
// resolve in call order. The writes still run concurrently (LevelDB and Redis may finish
// them in any order); only their results are handed back in order.
//
//  - outgoingUpdate, per client: the protocol core writes a persistent session's PUBREL (and each message
//    of a reconnecting session's queue) when it resolves. Out of order, PUBRELs left in another
//    order than their PUBRECs came (MQTT-4.6.0-3), and MQTT.js, which hands a QoS 2 message to
//    the application at PUBREL, reordered messages (test/broker/persistence.test.ts).
// (A message's storage in the offline queues and its routing keep their order in the
// protocol core's publish route, src/protocol/route.ts.)
import { wrapOperation, type Implementations } from './storage-operations.js'

const noop = (): void => {}

/** Wraps `op` so that calls with the same key resolve in call order. */
function ordered (impl: Implementations, op: string, keyOf: (...args: any[]) => string): void {
  const tails = new Map<string, Promise<void>>()
  wrapOperation(impl, op, stored => (...args: unknown[]) => {
    const key = keyOf(...args)
    const result = stored(...args) as Promise<unknown>
    // `result` is awaited only once the previous call for this key has settled: a rejection
    // meanwhile (a PUBREC for a packet id that was never sent) would otherwise be unhandled
    // and end the process. It still reaches the caller through `inOrder`.
    result.catch(noop)
    const previous = tails.get(key)
    const inOrder = previous === undefined ? result : previous.then(() => result)
    const settled = inOrder.then(noop, noop)
    tails.set(key, settled)
    settled.then(() => { if (tails.get(key) === settled) tails.delete(key) }, noop)
    return inOrder
  })
}

export function orderStorageCompletions (impl: Implementations): void {
  ordered(impl, 'outgoingUpdate', (client: { id: string }) => client.id)
}
