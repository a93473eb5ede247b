// Clients: a table (search by client id prefix, paged) with a kick button per row, and one
// client's detail page (#/clients/<id>): figures, will, subscriptions.
import { api } from './api.js'
import { age, h, num, pager, problem, searchBox, table } from './util.js'

export function clientsView (view, query) {
  let prefix = query.get('prefix') ?? ''
  let page = 1
  const list = h('div', { class: 'list' })
  const status = h('p', { class: 'status', role: 'status' })
  view.replaceChildren(h('h2', {}, 'Clients'), searchBox('client id prefix', prefix, v => { prefix = v; page = 1; load() }), status, list)

  async function load () {
    try {
      const answer = await api(`/api/clients?limit=50&page=${page}&prefix=${encodeURIComponent(prefix)}`)
      list.replaceChildren(table([
        { title: 'client id', cell: c => h('a', { href: `#/clients/${encodeURIComponent(c.clientId)}` }, c.clientId) },
        { title: 'user', cell: c => c.username ?? '-' },
        { title: 'address', cell: c => c.remoteAddress },
        { title: 'protocol', cell: c => `${c.transport} / ${c.protocolVersion === 5 ? '5' : c.protocolVersion === 4 ? '3.1.1' : '3.1'}` },
        { title: 'up', cell: c => age(c.connectedAt) },
        { title: 'subs', cell: c => num(c.subscriptions) },
        { title: 'in flight', cell: c => num(c.inflight) },
        { title: 'queued', cell: c => num(c.queued) },
        { title: 'msgs in', cell: c => num(c.messagesIn) },
        { title: 'msgs out', cell: c => num(c.messagesOut) },
        { title: '', cell: c => h('button', { type: 'button', class: 'danger', 'data-kick': c.clientId, onclick: e => kick(e.target, c.clientId) }, 'kick') }
      ], answer.items, { 'data-testid': 'clients' }), pager(answer, p => { page = p; load() }))
    } catch (err) {
      list.replaceChildren(problem(err))
    }
  }

  async function kick (button, id) {
    button.disabled = true
    try {
      await api(`/api/clients/${encodeURIComponent(id)}`, { method: 'DELETE' })
      status.textContent = `kicked ${id}`
      button.closest('tr').remove()
    } catch (err) {
      status.textContent = err.message
      button.disabled = false
    }
  }
  load()
}

export async function clientView (view, id) {
  view.replaceChildren(h('h2', {}, 'Client ', h('code', {}, id)))
  try {
    const c = await api(`/api/clients/${encodeURIComponent(id)}`)
    const rows = c.connected
      ? [['connected', `since ${c.connectedAt} (${age(c.connectedAt)}), node ${c.node}`], ['user', c.username ?? '-'], ['address', `${c.remoteAddress} (${c.transport})`],
          ['protocol', c.protocolVersion === 5 ? 'MQTT 5' : c.protocolVersion === 4 ? 'MQTT 3.1.1' : 'MQTT 3.1'], ['keep alive', `${c.keepalive} s`],
          ['session', c.persistent ? `persistent (expiry ${c.sessionExpiry === 4294967295 ? 'never' : `${c.sessionExpiry} s`})` : 'clean'],
          ['in flight / queued', `${c.inflight} / ${c.queued}${c.storedQueue !== null ? `, stored queue ${c.storedQueue}` : ''}`],
          ['oldest queued', oldest(c)],
          ['messages in / out', `${num(c.messagesIn)} / ${num(c.messagesOut)}`], ['bytes in / out', `${num(c.bytesIn)} / ${num(c.bytesOut)}`],
          ['will', c.will ? `${c.will.topic} (QoS ${c.will.qos}${c.will.retain ? ', retained' : ''}, ${c.will.payloadBytes} bytes)` : '-']]
      : [['connected', c.disconnectedAt ? `no: offline since ${c.disconnectedAt} (${age(c.disconnectedAt)})` : 'no: stored session'], ['expires', c.expiresAt ?? 'never'], ['queued', String(c.queued)], ['oldest queued', oldest(c)]]
    view.append(h('dl', { class: 'detail', 'data-testid': 'client-detail' }, ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
      h('h3', {}, 'Subscriptions'),
      table([
        { title: 'filter', cell: s => s.filter },
        { title: 'QoS', cell: s => String(s.qos) },
        { title: 'options', cell: s => [s.noLocal ? 'no local' : '', s.retainAsPublished ? 'retain as published' : '', s.retainHandling ? `retain handling ${s.retainHandling}` : '', s.identifier !== undefined ? `id ${s.identifier}` : ''].filter(Boolean).join(', ') || '-' }
      ], c.subscriptionList, { 'data-testid': 'client-subscriptions' }))
  } catch (err) {
    view.append(problem(err))
  }
}

const oldest = c => c.oldestQueuedAt ? `${c.oldestQueuedAt} (${age(c.oldestQueuedAt)})` : '-'
