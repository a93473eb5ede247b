// Fleet operations (issue #17): who is connected, what they hold, and the power to act.
// The admin API under /api/clients, /api/sessions, /api/subscriptions, /api/topics,
// /api/bans, /api/publish, /api/reload, /api/events and /api/openapi.json (README.md here),
// bans checked at CONNECT, and presence messages on $SYS/broker/clients/<id>/...
// With Redis storage, any node answers for the whole cluster (cluster.ts).
import type { Client } from 'aedes'
import type { AuthenticateHandler } from '../../src/hooks.js'
import { connectionInfo } from '../../src/connection.js'
import { liveClients } from '../../src/client-figures.js'
import type { Plugin } from '../../src/plugin.js'
import type { Persistence } from '../../src/protocol/types.js'
import { ReasonCode } from '../../src/protocol/reason-codes.js'
import { openBanBackend } from './ban-backends.js'
import { BanList, type Ban } from './bans.js'
import { registerAdminApi } from './admin-api.js'
import { registerBansApi } from './bans-api.js'
import { registerClientsApi, type ApiParts } from './clients-api.js'
import { clusterFleet } from './cluster.js'
import { LocalClients, localFleet } from './fleet-view.js'
import { Presence } from './presence.js'
import { registerPublishApi } from './publish-api.js'
import { Sessions } from './sessions.js'
import { registerSessionsApi } from './sessions-api.js'
import { registerSubscriptionsApi } from './subscriptions-api.js'

export const fleetPlugin: Plugin = {
  name: 'fleet',
  async setup ({ broker, hooks, http, storage, log, reload, publish, sysListened }) {
    const backend = await openBanBackend(storage, log)
    const bans = new BanList(backend)
    await bans.load()
    hooks.add('authenticate', refuseBanned(bans))

    const local = new LocalClients(broker, storage.nodeId)
    const fleet = storage.redisUrl !== null ? await clusterFleet(storage.redisUrl, local, log) : localFleet(local)
    const presence = new Presence(broker, storage.nodeId, fleet, sysListened)
    const parts: ApiParts = { fleet, sessions: new Sessions(storage.persistence as unknown as Persistence), presence, log }
    registerClientsApi(http, parts)
    registerSessionsApi(http, parts)
    registerSubscriptionsApi(http, parts)
    registerBansApi(http, bans, parts)
    registerPublishApi(http, broker, hooks, publish, parts)
    registerAdminApi(http, reload, parts)

    // Another node changed the bans: this node refuses the new ones and closes their clients.
    backend.onChange(() => {
      bans.load().then(() => {
        for (const c of liveClients(broker)) if (bans.match(c.figures()) !== null) c.kick(false)
      }, err => log.warn({ err }, 'could not reload the bans after another node changed them; the ones known stay in force'))
    })
    return {
      async close () {
        presence.close()
        await fleet.close()
        await backend.close()
      }
    }
  }
}

/** CONNECT of a banned client id, user name or address: CONNACK 0x8A Banned (MQTT 3.1.1: 0x05 not authorized). */
function refuseBanned (bans: BanList): AuthenticateHandler {
  return (client: Client, username, _password, done) => {
    const ban: Ban | null = bans.match({ clientId: client.id, username: username ?? null, remoteAddress: connectionInfo(client).remoteAddress })
    if (ban === null) return done(null, true)
    done(Object.assign(new Error(`banned (${ban.kind} ${ban.value}${ban.reason !== null ? `: ${ban.reason}` : ''})`), { returnCode: 5 as const, reasonCode: ReasonCode.banned }), false)
  }
}
