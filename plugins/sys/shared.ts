// The $SYS topics of this node's shared-subscription groups, by share name (the GROUP of
// $share/GROUP/FILTER): its members, backlog and deliveries summed over the group's filters,
// and per filter and per member in one JSON body. A filter holds + and #, which a topic name
// may not: so the filters are in the body, not in the topic.
import type { SharedGroupFigures } from '../../src/protocol/shared-members.js'

/** Topic (under $SYS/broker/) and payload of every group's figures. */
export function sharedGroupTopics (figures: readonly SharedGroupFigures[]): Map<string, string> {
  const byGroup = new Map<string, SharedGroupFigures[]>()
  for (const f of figures) byGroup.set(f.group, [...byGroup.get(f.group) ?? [], f])
  const out = new Map<string, string>()
  for (const [group, filters] of byGroup) {
    const sum = (field: 'members' | 'backlog' | 'delivered'): number => filters.reduce((n, f) => n + f[field], 0)
    out.set(`shared/${group}/members`, String(sum('members')))
    out.set(`shared/${group}/backlog`, String(sum('backlog')))
    out.set(`shared/${group}/delivered`, String(sum('delivered')))
    out.set(`shared/${group}/filters`, JSON.stringify(filters.map(f => ({
      filter: f.filter,
      members: f.members,
      offline: f.offline,
      backlog: f.backlog,
      delivered: f.delivered,
      redispatched: f.redispatched,
      perMember: Object.fromEntries(f.perMember.map(m => [m.clientId, m.delivered]))
    }))))
  }
  return out
}
