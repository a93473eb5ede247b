// With Redis storage, any node answers for the whole cluster: each node announces itself in
// the sorted set swallow:fleet:nodes (score: last heartbeat, every 5 s; a node silent for
// 15 s is gone), and a question (list clients, show one, list subscriptions, kick) goes to
// every node on the channel swallow:fleet:requests; each answers on its asker's reply
// channel with its own part, and the asker merges them. A node that does not answer within
// REPLY_TIMEOUT_MS is left out of that answer (logged), so one stuck node does not stop the
// API. Presence messages travel on swallow:fleet:presence (presence.ts). Nothing is stored: the figures are read off the connections when asked.
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import type { Logger } from '../../src/logger.js'
import type { ClientDetail, ClientSummary, Fleet, KickSelector, LiveSubscription, LocalClients, PresenceMessage } from './fleet-view.js'

const NODES = 'swallow:fleet:nodes'
const PRESENCE = 'swallow:fleet:presence'
const REQUESTS = 'swallow:fleet:requests'
const replies = (node: string): string => `swallow:fleet:replies:${node}`
const HEARTBEAT_MS = 5000
const NODE_TTL_MS = 15_000
const REPLY_TIMEOUT_MS = 3000

type Op =
  | { op: 'clients' }
  | { op: 'client', id: string }
  | { op: 'subscriptions' }
  | { op: 'kick', selector: KickSelector, endSession: boolean }

interface Request { id: string, from: string, ask: Op }
interface Reply { id: string, node: string, result: unknown }

interface Pending { waiting: Set<string>, results: unknown[], done: () => void }

export async function clusterFleet (url: string, local: LocalClients, log: Logger): Promise<Fleet> {
  const me = local.nodeId
  const redis = new Redis(url, { lazyConnect: true, connectionName: 'swallow-fleet', maxRetriesPerRequest: 2, commandTimeout: 2000 })
  const sub = new Redis(url, { lazyConnect: true, connectionName: 'swallow-fleet-sub' })
  redis.on('error', () => {})
  sub.on('error', () => {})
  await redis.connect()
  await sub.connect()
  const pending = new Map<string, Pending>()
  const presenceListeners: Array<(m: PresenceMessage) => void> = []

  const answer = (ask: Op): unknown => {
    switch (ask.op) {
      case 'clients': return local.summaries()
      case 'client': return local.detail(ask.id)
      case 'subscriptions': return local.subscriptions()
      case 'kick': return local.kick(ask.selector, ask.endSession)
    }
  }

  sub.on('message', (channel: string, text: string) => {
    try {
      if (channel === PRESENCE) {
        const m = JSON.parse(text) as PresenceMessage & { from: string }
        if (m.from !== me) for (const l of presenceListeners) l({ clientId: m.clientId, what: m.what, body: m.body })
      } else if (channel === REQUESTS) {
        const req = JSON.parse(text) as Request
        if (req.from === me) return
        const reply: Reply = { id: req.id, node: me, result: answer(req.ask) }
        redis.publish(replies(req.from), JSON.stringify(reply)).catch(err => log.warn({ err }, 'fleet: could not answer another node'))
      } else {
        const reply = JSON.parse(text) as Reply
        const p = pending.get(reply.id)
        if (p === undefined || !p.waiting.delete(reply.node)) return
        p.results.push(reply.result)
        if (p.waiting.size === 0) p.done()
      }
    } catch (err) {
      log.warn({ err, channel }, 'fleet: unreadable message between nodes')
    }
  })
  await sub.subscribe(REQUESTS, replies(me), PRESENCE)

  const beat = async (): Promise<void> => {
    const now = Date.now()
    await redis.multi().zadd(NODES, now, me).zremrangebyscore(NODES, 0, now - NODE_TTL_MS).exec()
  }
  await beat()
  const timer = setInterval(() => { beat().catch(err => log.warn({ err }, 'fleet: heartbeat to Redis failed')) }, HEARTBEAT_MS)
  timer.unref()

  // Redis unreachable: this node answers for itself (the API keeps working, for one node).
  const nodes = async (): Promise<string[]> => {
    const live = await redis.zrangebyscore(NODES, Date.now() - NODE_TTL_MS, '+inf').catch((err: Error) => {
      log.warn({ err: err.message }, 'fleet: Redis unreachable; answering for this node only')
      return [] as string[]
    })
    return [me, ...live.filter(n => n !== me).sort()]
  }

  /** This node's answer and every other live node's. */
  const ask = async (op: Op): Promise<unknown[]> => {
    const mine = answer(op)
    const others = (await nodes()).slice(1)
    if (others.length === 0) return [mine]
    const id = randomUUID()
    const results: unknown[] = [mine]
    const waiting = new Set(others)
    await new Promise<void>(resolve => {
      const timeout = setTimeout(() => {
        log.warn({ nodes: [...waiting], op: op.op }, 'fleet: cluster nodes did not answer in time; the answer leaves them out')
        resolve()
      }, REPLY_TIMEOUT_MS)
      pending.set(id, { waiting, results, done: () => { clearTimeout(timeout); resolve() } })
      redis.publish(REQUESTS, JSON.stringify({ id, from: me, ask: op } satisfies Request)).catch(() => { clearTimeout(timeout); resolve() })
    })
    pending.delete(id)
    return results
  }

  return {
    nodes,
    clients: async () => (await ask({ op: 'clients' }) as ClientSummary[][]).flat(),
    client: async id => (await ask({ op: 'client', id }) as Array<ClientDetail | null>).find(c => c !== null) ?? null,
    subscriptions: async () => (await ask({ op: 'subscriptions' }) as LiveSubscription[][]).flat(),
    kick: async (selector, endSession) => (await ask({ op: 'kick', selector, endSession }) as number[]).reduce((a, b) => a + b, 0),
    // QoS 0 like the messages themselves: lost while Redis is unreachable.
    sharePresence: m => { redis.publish(PRESENCE, JSON.stringify({ ...m, from: me })).catch(() => {}) },
    onPresence: listener => { presenceListeners.push(listener) },
    close: async () => {
      clearInterval(timer)
      await redis.zrem(NODES, me).catch(() => {})
      redis.disconnect()
      sub.disconnect()
    }
  }
}
