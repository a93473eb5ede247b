// QoS 1/2 retransmissions (same client id, same packet id, DUP set) must not be appended
// twice. A packet id is remembered from the start of its append until the broker has
// answered it (PUBACK/PUBREC written, seen in the `published` hook): only then may the
// client reuse the id, and only until then can a retransmission of it come.
//
// A retransmission that arrives while the original is still being stored waits for that
// store result: it is acknowledged only once the original is on disk (or fails with it),
// so a DUP never gets a PUBACK for a record that is not stored yet.
//
// Forgetting early can cost a duplicate, never a loss; remembering too long could drop a
// new message, so an id whose store write failed is forgotten at once.
type Settled = (err?: Error | null) => void

/** null: stored; an array: still being stored, with the retransmissions waiting for it. */
type IdState = Settled[] | null

export class InflightIds {
  private readonly clients = new Map<string, Map<number, IdState>>()

  /** The original's append starts. */
  begin (clientId: string, packetId: number): void {
    let ids = this.clients.get(clientId)
    if (!ids) this.clients.set(clientId, ids = new Map())
    ids.set(packetId, [])
  }

  /** The original's append finished: wakes waiting retransmissions; a failure forgets the id. */
  settle (clientId: string, packetId: number, err?: Error | null): void {
    const ids = this.clients.get(clientId)
    const state = ids?.get(packetId)
    if (!ids || state === undefined) return
    if (err) ids.delete(packetId)
    else ids.set(packetId, null)
    if (state) for (const waiter of state) waiter(err ?? null)
  }

  /**
   * A retransmission of `packetId`: true if it is a duplicate, and then `done` runs once the
   * original is stored (at once if it already is). False: unknown id, append it.
   */
  joinDuplicate (clientId: string, packetId: number, done: Settled): boolean {
    const state = this.clients.get(clientId)?.get(packetId)
    if (state === undefined) return false
    if (state === null) done(null)
    else state.push(done)
    return true
  }

  /** The answer was written: the client may reuse the id. */
  delete (clientId: string, packetId: number): void {
    const ids = this.clients.get(clientId)
    if (ids?.get(packetId) === null) ids.delete(packetId)
  }

  /** Drops a client's empty map (on disconnect); remembered ids wait for the retransmission. */
  release (clientId: string): void {
    const ids = this.clients.get(clientId)
    if (ids && ids.size === 0) this.clients.delete(clientId)
  }

  get size (): number {
    let n = 0
    for (const ids of this.clients.values()) n += ids.size
    return n
  }
}
