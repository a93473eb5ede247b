// In-flight packet state of clean sessions lives in memory, next to the client object,
// instead of in the session storage.
//
// Why this loses nothing: a clean session (CONNECT with CleanSession=1) ends with its
// network connection (MQTT-3.1.2-6), and Aedes wipes its stored in-flight state when the
// client id connects again clean (cleanIncoming). A QoS 2 message from a clean publisher
// that got PUBREC but no PUBREL yet is therefore never delivered after a disconnect, whether
// the broker kept it on disk or not; the same for a PUBREL waiting for PUBCOMP. Keeping it on
// disk only cost LevelDB (or Redis) round trips: one read per PUBACK, five operations per
// QoS 2 message. Persistent sessions (CleanSession=0) are untouched and stay in storage.
import type { AnyOperation } from './storage.js'

interface SessionClient { clean?: boolean, id?: string }
interface InflightPacket { messageId?: number }

interface CleanState {
  /** QoS 2 PUBLISHes received and answered with PUBREC, waiting for PUBREL. */
  incoming: Map<number, InflightPacket>
  /** Packets sent and waiting for their ack (Aedes stores only PUBRELs of clean clients). */
  outgoing: Map<number, InflightPacket>
}

const states = new WeakMap<object, CleanState>()

function stateOf (client: object): CleanState {
  let state = states.get(client)
  if (!state) states.set(client, state = { incoming: new Map(), outgoing: new Map() })
  return state
}

const isClean = (client: unknown): client is SessionClient & object =>
  typeof client === 'object' && client !== null && (client as SessionClient).clean === true

const noSuchPacket = (): Promise<never> => Promise.reject(new Error('no such packet'))

/**
 * Wraps the in-flight operations of `impl` (the persistence's implementations): calls for
 * clean clients are answered from memory with the persistence's semantics, the others go on.
 */
export function keepCleanSessionsInMemory (impl: Record<string, AnyOperation>): void {
  const wrap = (op: string, clean: (client: SessionClient & object, packet: InflightPacket) => Promise<unknown>): void => {
    const stored = impl[op]
    if (typeof stored !== 'function') return
    impl[op] = (client: unknown, packet: InflightPacket, ...rest: unknown[]) =>
      isClean(client) ? clean(client, packet) : stored(client, packet, ...rest)
  }
  wrap('outgoingUpdate', async (client, packet) => {
    stateOf(client).outgoing.set(packet.messageId as number, packet)
  })
  wrap('outgoingClearMessageId', async (client, packet) => {
    const outgoing = states.get(client)?.outgoing
    const found = outgoing?.get(packet.messageId as number)
    if (found) outgoing?.delete(packet.messageId as number)
    return found
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
