// Embedded storage: which client ids have anything stored, kept in memory, so that the
// connect and disconnect of a client id with nothing stored skips LevelDB.
//
// On every clean CONNECT Aedes asks the storage to drop the id's subscriptions, its QoS 2
// ids and its will, and streams its offline queue; on every disconnect it drops the QoS 2
// ids again. For a device that never had a persistent session those are range scans and
// deletes of nothing: in the idle-10k benchmark they were about half of the broker's busy
// time. This process owns the LevelDB (it holds the lock), so an index read from the keys
// at start and updated on every write is authoritative.
//
// The index errs one way only: an id is added before its first write and never removed
// (wills excepted, see below), so a skipped operation is always one that would have found
// nothing. The memory it costs is one string per client id that ever had stored state.
import { Readable } from 'node:stream'
import type { ClassicLevel } from 'classic-level'
import type { Counts } from './level-files.js'
import { SESSION_MARKER_TOPIC } from './session-marker.js'
import { wrapOperation, type AnyOperation, type Implementations } from './storage-operations.js'

// Key prefixes of aedes-persistence-level (asyncPersistence.js); the client id follows,
// encodeURIComponent-ed, up to the next ':' (or the end, for wills).
const STATE_PREFIXES = ['subscriptions:', 'outgoing:', 'outgoing-id:', 'incoming:']
const WILL_PREFIX = 'will:'

interface HasId { id?: string, clientId?: string }

/** What the storage may hold for a client id (false: certainly nothing). */
export interface StoredSessions {
  hasState: (clientId: string) => boolean
  hasWill: (clientId: string) => boolean
}

export class SessionIndex implements StoredSessions {
  /** Ids that may have subscriptions, queued or in-flight messages stored. */
  readonly stateIds = new Set<string>()
  /** Ids that may have a will stored, with a counter of putWill calls (see delWill). */
  readonly willIds = new Map<string, number>()

  /** Records found by load(), for the report after a repair (src/level-guard.ts). */
  counts: Counts = {}

  static async load (db: ClassicLevel<string, Buffer>): Promise<SessionIndex> {
    const index = new SessionIndex()
    index.counts = await scan(db, index, Infinity) as Counts
    return index
  }

  /** The same counts as load, for the clean-stop marker; null when it takes more than `budgetMs`. */
  static async count (db: ClassicLevel<string, Buffer>, budgetMs: number): Promise<Counts | null> {
    return await scan(db, new SessionIndex(), Date.now() + budgetMs)
  }

  hasState (clientId: string): boolean { return this.stateIds.has(clientId) }

  hasWill (clientId: string): boolean { return this.willIds.has(clientId) }

  get size (): { sessions: number, wills: number } {
    return { sessions: this.stateIds.size, wills: this.willIds.size }
  }

  /** Wraps the persistence's implementations: writes update the index, reads of unknown ids skip the database. */
  wrap (impl: Implementations): void {
    const { stateIds, willIds } = this
    const idOf = (client: HasId): string => (client.id ?? client.clientId) as string
    const around = (op: string, make: (stored: AnyOperation) => AnyOperation): void => wrapOperation(impl, op, make)
    // Writes: note the id first.
    for (const op of ['addSubscriptions', 'outgoingUpdate', 'incomingStorePacket']) {
      around(op, stored => (client: HasId, ...rest: unknown[]) => {
        stateIds.add(idOf(client))
        return stored(client, ...rest)
      })
    }
    around('outgoingEnqueue', stored => (sub: HasId, packet: unknown) => {
      stateIds.add(idOf(sub))
      return stored(sub, packet)
    })
    around('outgoingEnqueueCombi', stored => (subs: HasId[], packet: unknown) => {
      for (const sub of subs) stateIds.add(idOf(sub))
      return stored(subs, packet)
    })
    around('putWill', stored => (client: HasId, packet: unknown) => {
      const id = idOf(client)
      willIds.set(id, (willIds.get(id) ?? 0) + 1)
      return stored(client, packet)
    })
    // Reads and deletes: nothing stored for this id, nothing to do.
    const noState = (client: HasId): boolean => !stateIds.has(idOf(client))
    around('cleanSubscriptions', stored => (client: HasId) => noState(client) ? Promise.resolve() : stored(client))
    around('cleanIncoming', stored => (client: HasId) => noState(client) ? Promise.resolve() : stored(client))
    around('subscriptionsByClient', stored => (client: HasId) => noState(client) ? Promise.resolve([]) : stored(client))
    around('outgoingStream', stored => (client: HasId) => noState(client) ? Readable.from([]) : stored(client))
    around('getWill', stored => (client: HasId) => willIds.has(idOf(client)) ? stored(client) : Promise.resolve(undefined))
    around('delWill', stored => (client: HasId) => {
      const id = idOf(client)
      const puts = willIds.get(id)
      if (puts === undefined) return Promise.resolve(undefined)
      const result = stored(client) as Promise<unknown>
      // Forget the id once the delete is done, unless a putWill came meanwhile.
      const forget = (): void => { if (willIds.get(id) === puts) willIds.delete(id) }
      result.then(forget, () => {})
      return result
    })
  }
}

const MARKER_KEY_END = ':' + SESSION_MARKER_TOPIC

/** Fills the index from the keys; counts them by kind (null past `deadline`). */
async function scan (db: ClassicLevel<string, Buffer>, index: SessionIndex, deadline: number): Promise<Counts | null> {
  const perPrefix: Record<string, number> = {}
  for (const prefix of [...STATE_PREFIXES, WILL_PREFIX]) {
    let n = 0
    const it = db.keys({ gte: prefix, lt: prefix.slice(0, -1) + ';' })
    try {
      for (let keys = await it.nextv(10_000); keys.length > 0; keys = await it.nextv(10_000)) {
        if (Date.now() > deadline) return null
        for (const key of keys) {
          const rest = key.slice(prefix.length)
          if (prefix === WILL_PREFIX) {
            index.willIds.set(decodeURIComponent(rest), 0)
          } else {
            index.stateIds.add(decodeURIComponent(rest.slice(0, rest.indexOf(':'))))
            if (prefix === 'subscriptions:' && key.endsWith(MARKER_KEY_END)) continue
          }
          n++
        }
      }
    } finally {
      await it.close()
    }
    perPrefix[prefix] = n
  }
  return {
    sessions: index.stateIds.size,
    subscriptions: perPrefix['subscriptions:'],
    'queued messages': perPrefix['outgoing:'],
    wills: perPrefix[WILL_PREFIX]
  }
}
