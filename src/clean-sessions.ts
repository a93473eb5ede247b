// In-flight packet state of clean sessions lives in memory, next to the client object,
// instead of in the session storage.
//
// Why this loses nothing: a clean session (CONNECT with CleanSession=1) ends with its
// network connection (MQTT-3.1.2-6), and Aedes wipes its stored in-flight state when the
// connection closes and when the id connects again clean (cleanIncoming). Aedes delivers a
// QoS 2 message when its PUBLISH arrives and keeps the packet id until PUBREL only so that a
// retransmission on the same connection is not delivered twice: state that dies with the
// connection. Keeping it on disk only cost LevelDB (or Redis) round trips: one read per
// PUBACK, five operations per QoS 2 message. Persistent sessions (CleanSession=0) are
// untouched and stay in storage, and so is the purge of what an earlier persistent session
// of the same id left (see fromStorage).
import { wrapOperation, type AnyOperation, type Implementations } from './storage-operations.js'

interface SessionClient { clean?: boolean, id?: string }
interface InflightPacket { messageId?: number }

interface CleanState {
  /** QoS 2 PUBLISHes received and answered with PUBREC, waiting for PUBREL. */
  incoming: Map<number, InflightPacket>
  /**
   * Packet ids of messages a previous persistent session of this id left in storage: on a
   * clean CONNECT Aedes streams them out of storage and clears each by id (they are
   * dropped, not sent), so those ids still go to the storage.
   */
  fromStorage: Set<number>
}

const states = new WeakMap<object, CleanState>()

function stateOf (client: object): CleanState {
  let state = states.get(client)
  if (!state) states.set(client, state = { incoming: new Map(), fromStorage: new Set() })
  return state
}

const isClean = (client: unknown): client is SessionClient & object =>
  typeof client === 'object' && client !== null && (client as SessionClient).clean === true

/**
 * True when a PUBACK or PUBCOMP with this packet id ends a live delivery to a clean session:
 * nothing was stored for it, so it needs no storage operation (see outgoingClearMessageId).
 */
export function acknowledgesLiveDelivery (client: object, messageId: number): boolean {
  return isClean(client) && states.get(client)?.fromStorage.has(messageId) !== true
}

const noSuchPacket = (): Promise<never> => Promise.reject(new Error('no such packet'))

/**
 * Wraps the in-flight operations of `impl` (the persistence's implementations): calls for
 * clean clients are answered from memory with the persistence's semantics, the others go on.
 */
export function keepCleanSessionsInMemory (impl: Implementations): void {
  const wrap = (op: string, clean: (client: SessionClient & object, packet: InflightPacket, stored: AnyOperation) => Promise<unknown>): void =>
    wrapOperation(impl, op, stored => (client: unknown, packet: InflightPacket, ...rest: unknown[]) =>
      isClean(client) ? clean(client, packet, stored) : stored(client, packet, ...rest))
  // Aedes stores nothing outgoing for clean clients (not their deliveries, not their
  // PUBRELs) except when it streams an old session's queue on a clean CONNECT.
  wrap('outgoingUpdate', async (client, packet, stored) => {
    stateOf(client).fromStorage.add(packet.messageId as number)
    return await stored(client, packet)
  })
  wrap('outgoingClearMessageId', async (client, packet, stored) => {
    if (states.get(client)?.fromStorage.delete(packet.messageId as number) === true) return await stored(client, packet)
    return undefined // a PUBACK or PUBCOMP of a live delivery: nothing was stored for it
  })
  wrap('incomingStorePacket', async (client, packet) => {
    stateOf(client).incoming.set(packet.messageId as number, { ...packet })
  })
  wrap('incomingGetPacket', (client, packet) => {
    const found = states.get(client)?.incoming.get(packet.messageId as number)
    return found ? Promise.resolve(found) : noSuchPacket()
  })
  wrap('incomingDelPacket', (client, packet) => {
    const incoming = states.get(client)?.incoming
    return incoming?.delete(packet.messageId as number) === true ? Promise.resolve() : noSuchPacket()
  })
}
