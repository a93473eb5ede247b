// A SUBSCRIBE is stored in one batch of the filters it was granted, whatever their number.
//
// Aedes 1.2's SUBSCRIBE handler (lib/handlers/subscribe.js, storeSubscriptions) stores the
// packet's whole filter list once per granted filter: a persistent session's SUBSCRIBE with
// k filters became k batches of k puts. With 1,000 filters the SUBACK took 32 s and the
// broker grew to 2.7 GB, and no other client could connect meanwhile (issue #20). And the
// list it stores includes the filters the ACL or a limit refused: restored after a restart,
// those came back. Every one of those calls passes the same array (packet.subscriptions),
// whose elements are the objects the authorizeSubscribe hook decides on; so the first call
// waits for the decision on every filter of the packet and stores the granted ones once,
// and the other calls share its outcome.
import { wrapOperation, type AnyOperation, type Implementations } from './storage-operations.js'

type Waiter = (granted: boolean) => void

export class SubscribeDecisions {
  private readonly decisions = new WeakMap<object, boolean | Waiter[]>()

  /** The composed authorizeSubscribe hook's outcome for one filter of a SUBSCRIBE (src/hooks.ts). */
  decided (sub: object, granted: boolean): void {
    const known = this.decisions.get(sub)
    this.decisions.set(sub, granted)
    if (Array.isArray(known)) for (const waiter of known) waiter(granted)
  }

  private outcome (sub: object): Promise<boolean> | boolean {
    const known = this.decisions.get(sub)
    if (typeof known === 'boolean') return known
    return new Promise(resolve => {
      if (known === undefined) this.decisions.set(sub, [resolve])
      else known.push(resolve)
    })
  }

  /** Wraps the persistence's addSubscriptions (src/storage.ts). */
  wrap (impl: Implementations): void {
    const stored = new WeakMap<object, Promise<unknown>>()
    wrapOperation(impl, 'addSubscriptions', (add: AnyOperation) => (client: unknown, subscriptions: object[]) => {
      let batch = stored.get(subscriptions)
      if (batch === undefined) {
        batch = Promise.all(subscriptions.map(sub => this.outcome(sub))).then(granted => {
          const kept = subscriptions.filter((_, i) => granted[i])
          return kept.length > 0 ? add(client, kept) : undefined
        })
        stored.set(subscriptions, batch)
      }
      return batch
    })
  }
}
