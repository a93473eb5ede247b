// A due record becomes a PUBLISH on its topic, through the steps a client PUBLISH takes after
// the delayed-publish hook: the authorizePublish handlers after it (the log bridge: durable
// appends are on disk before it continues), then the core's publish route (retained store,
// offline queues of persistent sessions, router, published hooks). The record is removed only after that resolved,
// so a crash in between publishes it once more after the restart (at least once).
import type { Client, PublishPacket } from 'aedes'
import { connectionInfo } from '../../src/connection.js'
import type { AuthorizePublishHandler, Hooks } from '../../src/hooks.js'
import type { PluginContext } from '../../src/plugin.js'
import type { RoutedPacket } from '../../src/protocol/types.js'
import type { DelayedRecord } from './record.js'

export type ReleaseOutcome = 'published' | 'expired' | 'dropped'

export function releaser (publish: PluginContext['publish'], hooks: Hooks, after: AuthorizePublishHandler): (record: DelayedRecord) => Promise<ReleaseOutcome> {
  return async record => {
    // Message Expiry counts from the original PUBLISH: one that expired while waiting is not sent.
    if (record.messageExpiry != null && record.messageExpiry <= Date.now()) return 'expired'
    const packet = toPacket(record)
    const client = publisherOf(record)
    return await new Promise<ReleaseOutcome>((resolve, reject) => {
      hooks.continuePublish(after, client, packet as unknown as PublishPacket, err => {
        if (err) return reject(err)
        if (hooks.isDropped(packet)) return resolve('dropped')
        publish(packet, client, err => err ? reject(err) : resolve('published'))
      })
    })
  }
}

/** No packet id and no DUP: the broker gives each delivery its own, as for any message it routes. */
function toPacket (r: DelayedRecord): RoutedPacket {
  const packet: RoutedPacket = { cmd: 'publish', topic: r.topic, payload: r.payload, qos: r.qos, retain: r.retain, dup: false }
  if (r.properties != null) packet.properties = r.properties
  if (r.messageExpiry != null) packet.messageExpiry = r.messageExpiry
  return packet
}

/**
 * The publisher as the steps after the hook know it: its client id (No Local, the log
 * bridge's record) and user name. Not connected: nothing is ever sent to it.
 */
function publisherOf (r: DelayedRecord): Client {
  const client = { id: r.clientId, connected: false, closed: true } as unknown as Client
  if (r.username !== null) connectionInfo(client).username = r.username
  return client
}
