// GET /api/subscriptions?filter=F&topic=T&clientId=C&page=&limit=   who subscribes to what
// GET /api/topics?filter=F&page=&limit=     the subscribed filters, with their subscriber counts
// filter=F: subscriptions whose own filter lies within F (F "devices/#" lists
// "devices/+/status"); topic=T: subscriptions a message on T would reach. Connected clients'
// subscriptions come from the connections, offline sessions' from storage.
import type { HttpRoutes } from '../../src/listeners/http.js'
import { validTopicFilter, validTopicName } from '../../src/protocol/topic-rules.js'
import { topicMatches } from '../../src/topics.js'
import type { ApiParts } from './clients-api.js'
import { ApiError, handled, pageOf, pageRequest, sendJson } from './respond.js'

export interface SubscriptionRow {
  clientId: string
  filter: string
  qos: number
  connected: boolean
  node?: string
  noLocal?: boolean
  retainAsPublished?: boolean
  retainHandling?: number
  identifier?: number
}

export function registerSubscriptionsApi (routes: HttpRoutes, { fleet, sessions }: ApiParts): void {
  const rows = async (url: URL): Promise<SubscriptionRow[]> => {
    const q = url.searchParams
    const filter = q.get('filter')
    if (filter !== null && !validTopicFilter(filter)) throw new ApiError(400, 'bad_filter', `filter ${JSON.stringify(filter)}: not an MQTT topic filter (# only as the last level, + only as a whole level)`)
    const topic = q.get('topic')
    if (topic !== null && !validTopicName(topic)) throw new ApiError(400, 'bad_topic', `topic ${JSON.stringify(topic)}: not a topic name (no wildcards, not empty)`)
    const clientId = q.get('clientId')
    const live = await fleet.subscriptions()
    const out: SubscriptionRow[] = live.map(s => ({ ...s, connected: true }))
    const connected = new Set((await fleet.clients()).map(c => c.clientId))
    for (const id of await sessions.ids()) {
      if (connected.has(id) || (clientId !== null && id !== clientId)) continue
      for (const s of await sessions.subscriptions(id)) out.push({ clientId: id, filter: s.filter, qos: s.qos, connected: false })
    }
    return out.filter(s => (clientId === null || s.clientId === clientId) &&
      (filter === null || within(s.filter, filter)) &&
      (topic === null || topicMatches(s.filter, topic)))
  }

  routes.add('GET', '/api/subscriptions', handled(async (_req, res, url) => {
    const paging = pageRequest(url)
    const all = (await rows(url)).sort((a, b) => a.filter.localeCompare(b.filter) || a.clientId.localeCompare(b.clientId))
    sendJson(res, 200, pageOf(all, paging))
  }))

  routes.add('GET', '/api/topics', handled(async (_req, res, url) => {
    const paging = pageRequest(url)
    const byFilter = new Map<string, { filter: string, subscribers: number, connected: number, maxQos: number }>()
    for (const s of await rows(url)) {
      const t = byFilter.get(s.filter) ?? { filter: s.filter, subscribers: 0, connected: 0, maxQos: 0 }
      t.subscribers++
      if (s.connected) t.connected++
      t.maxQos = Math.max(t.maxQos, s.qos)
      byFilter.set(s.filter, t)
    }
    sendJson(res, 200, pageOf([...byFilter.values()].sort((a, b) => a.filter.localeCompare(b.filter)), paging))
  }))
}

/** Every topic `inner` can match, `outer` matches too (approximately: inner's wildcards read as literal levels). */
function within (inner: string, outer: string): boolean {
  if (inner === outer) return true
  return topicMatches(outer, inner)
}
