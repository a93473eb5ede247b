// Every use Swallow's protocol core (src/protocol/) makes of Aedes beyond its documented API,
// in one typed place, with a start-up check that each assumption holds for the installed
// version (aedes is pinned exactly in package.json for this reason).
//
// The protocol core keeps Aedes for what Aedes is good at: the persistence interface and its
// implementations, the router (broker.publish / subscribe / unsubscribe over mqemitter or
// src/cluster-emitter.ts), the hook slots and the events. What it relies on besides:
//  1. the client registry: broker.registerClient(client) closes a connected client with the
//     same id through client.close(done) and then records the new one (MQTT-3.1.4-2, also
//     across cluster nodes via Aedes's $SYS/<id>/new/clients handler, which calls close too);
//     broker.unregisterClient(client) removes it and emits 'clientDisconnect';
//  2. broker.clients[id] is that registry (a plain object);
//  3. a registered client has a `duplicates` object: Aedes's $SYS/<id>/birth handler deletes
//     entries of it when another node starts;
//  4. broker.publish(packet, client, done): the three-argument form Aedes's own handlers use,
//     so that the 'publish' event and the published hook name the publisher;
//  5. mqtt-packet's parser keeps the CONNECT packet it parsed as its `settings` for the life
//     of the connection (credentials included) and reads only protocolVersion from it;
//  6. aedes-packet keeps `properties` and `messageExpiry` on the packet it routes and stores,
//     so MQTT 5 properties reach subscribers, offline queues and other nodes (4.x does; the
//     3.x that aedes-persistence-level asks for does not: package.json overrides it).
import { createRequire } from 'node:module'
import type { Aedes, Client } from 'aedes'
import { StartupError } from './errors.js'

/** What a client in Aedes's registry must offer (the protocol core's Connection does). */
export interface RegisteredClient {
  id: string
  closed: boolean
  /** Aedes's birth handler (aedes 1.2 aedes.js) deletes per-node entries here. */
  duplicates: Record<string, unknown>
  close: (done?: () => void) => void
}

interface RegistryInternals {
  clients: Record<string, RegisteredClient | undefined>
  registerClient: (client: RegisteredClient) => void
  unregisterClient: (client: RegisteredClient) => void
}

const registry = (broker: Aedes): RegistryInternals => broker as unknown as RegistryInternals

/** Takes over a connected client with the same id (closing it), then records this one. */
export function registerClient (broker: Aedes, client: RegisteredClient): void {
  registry(broker).registerClient(client)
}

/** Removes the client from the registry (if it is the one recorded) and emits 'clientDisconnect'. */
export function unregisterClient (broker: Aedes, client: RegisteredClient): void {
  if (registry(broker).clients[client.id] === client) registry(broker).unregisterClient(client)
}

export function registeredClient (broker: Aedes, id: string): RegisteredClient | undefined {
  return registry(broker).clients[id]
}

/** Every connected client Aedes knows (both protocol paths register there). */
export function registeredClients (broker: Aedes): RegisteredClient[] {
  return Object.values(registry(broker).clients).filter((c): c is RegisteredClient => c !== undefined)
}

/** A protocol-core connection where Aedes's hooks and events expect their Client (it has the fields plugins read: id, conn, req, clean, version, closed, close). */
export function asAedesClient (client: RegisteredClient): Client {
  return client as unknown as Client
}

/** The broker's hook slots (src/hooks.ts composes them), typed with the protocol core's packets. */
export function hookSlots<T> (broker: Aedes): T {
  return broker as unknown as T
}

/** Publishes a client's message: retained store, offline queues, router, then the published hook. */
export function publishFrom (broker: Aedes, packet: object, client: object | null, done: (err?: Error) => void): void {
  (broker as unknown as { publish: (p: object, c: object | null, d: (err?: Error) => void) => void }).publish(packet, client, done)
}

/** After CONNECT: the parser keeps a shared two-field object instead of the CONNECT packet. */
export function forgetConnectPacket (parser: object, protocolVersion: number): void {
  (parser as { settings: object }).settings = parserSettings[protocolVersion] ?? { protocolVersion }
}

const parserSettings: Record<number, object> = {
  3: Object.freeze({ protocolVersion: 3 }),
  4: Object.freeze({ protocolVersion: 4 }),
  5: Object.freeze({ protocolVersion: 5 })
}

/**
 * Fails start-up with one line when an assumption above does not hold (an Aedes upgrade
 * changed it): better than MQTT 5 properties silently vanishing or takeovers not happening.
 */
export function checkAedesSeam (broker: Aedes): void {
  const internals = registry(broker)
  const problems: string[] = []
  if (typeof internals.registerClient !== 'function') problems.push('broker.registerClient is missing')
  if (typeof internals.unregisterClient !== 'function') problems.push('broker.unregisterClient is missing')
  if (typeof internals.clients !== 'object' || internals.clients === null) problems.push('broker.clients is not an object')
  // Aedes and each persistence wrap packets in the aedes-packet they resolve (package.json's
  // overrides gives aedes-persistence-level the version that keeps properties).
  for (const owner of ['aedes', 'aedes-persistence', 'aedes-persistence-level']) {
    const PacketClass = createRequire(ownRequire.resolve(owner))('aedes-packet') as new (original: object, broker: unknown) => Record<string, unknown>
    const probe = new PacketClass({ cmd: 'publish', topic: 't', payload: Buffer.alloc(0), qos: 1, properties: { contentType: 'x' }, messageExpiry: 1 }, broker)
    if ((probe.properties as { contentType?: string } | undefined)?.contentType !== 'x' || probe.messageExpiry !== 1) {
      problems.push(`the aedes-packet of ${owner} drops MQTT 5 properties`)
    }
  }
  if (problems.length > 0) {
    throw new StartupError(`installed aedes does not match what Swallow's protocol core relies on (${problems.join('; ')}); reinstall the exact versions in package.json with npm ci`)
  }
}

const ownRequire = createRequire(import.meta.url)
