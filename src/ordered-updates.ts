// outgoingUpdate results resolve in call order per client.
//
// Aedes writes a PUBREL (and each message of a reconnecting session's queue) when the
// storage's outgoingUpdate for it resolves. LevelDB and Redis may finish two of them out of
// order, and then PUBRELs left in another order than their PUBRECs came (MQTT-4.6.0-3);
// MQTT.js hands a QoS 2 message to the application at PUBREL, so the application saw
// messages reordered (test/broker/persistence.test.ts caught it). The writes still run
// concurrently; only their completions are delivered in order.
import type { AnyOperation } from './storage.js'

const noop = (): void => {}

export function orderOutgoingUpdates (impl: Record<string, AnyOperation>): void {
  const stored = impl.outgoingUpdate
  if (typeof stored !== 'function') return
  const tails = new Map<string, Promise<void>>()
  impl.outgoingUpdate = (client: { id: string }, packet: unknown) => {
    const result = stored(client, packet) as Promise<unknown>
    const previous = tails.get(client.id)
    const ordered = previous === undefined ? result : previous.then(() => result)
    const settled = ordered.then(noop, noop)
    tails.set(client.id, settled)
    settled.then(() => { if (tails.get(client.id) === settled) tails.delete(client.id) }, noop)
    return ordered
  }
}
