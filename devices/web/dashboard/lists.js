// Subscriptions, bans, the retained store and the log streams (with their consumer groups' lag).
import { api } from './api.js'
import { age, h, num, pager, problem, searchBox, table } from './util.js'

export function subscriptionsView (view) {
  let filter = '#'
  let page = 1
  const list = h('div')
  view.replaceChildren(h('h2', {}, 'Subscriptions'), searchBox('within filter, e.g. devices/#', filter, v => { filter = v || '#'; page = 1; load() }), list)
  async function load () {
    try {
      const answer = await api(`/api/subscriptions?limit=100&page=${page}&filter=${encodeURIComponent(filter)}`)
      list.replaceChildren(table([
        { title: 'filter', cell: s => s.filter },
        { title: 'QoS', cell: s => String(s.qos) },
        { title: 'client id', cell: s => h('a', { href: `#/clients/${encodeURIComponent(s.clientId)}` }, s.clientId) },
        { title: 'connected', cell: s => s.connected ? 'yes' : 'no' }
      ], answer.items, { 'data-testid': 'subscriptions' }), pager(answer, p => { page = p; load() }))
    } catch (err) {
      list.replaceChildren(problem(err))
    }
  }
  load()
}

export function bansView (view) {
  const list = h('div')
  const message = h('p', { class: 'status', role: 'status' })
  const kind = h('select', { 'aria-label': 'kind' }, ...['clientId', 'username', 'address'].map(k => h('option', { value: k }, k)))
  const value = h('input', { 'aria-label': 'value', placeholder: 'client id, user name or address', required: true })
  const expires = h('input', { 'aria-label': 'expires in (seconds)', type: 'number', min: 1, placeholder: 'seconds (empty: never)' })
  const reason = h('input', { 'aria-label': 'reason', placeholder: 'reason' })
  const form = h('form', { class: 'search', 'data-testid': 'ban-form' }, kind, value, expires, reason, h('button', { type: 'submit' }, 'ban'))
  form.addEventListener('submit', async e => {
    e.preventDefault()
    try {
      const body = { kind: kind.value, value: value.value, ...(reason.value ? { reason: reason.value } : {}), ...(expires.value ? { expiresIn: Number(expires.value) } : {}) }
      const added = await api('/api/bans', { method: 'POST', body })
      message.textContent = `banned ${added.kind} ${added.value}; kicked ${added.kicked}`
      value.value = ''
      load()
    } catch (err) {
      message.textContent = err.message
    }
  })
  view.replaceChildren(h('h2', {}, 'Bans'), form, message, list)
  async function load () {
    try {
      const { items } = await api('/api/bans')
      list.replaceChildren(table([
        { title: 'kind', cell: b => b.kind },
        { title: 'value', cell: b => b.value },
        { title: 'expires', cell: b => b.expiresAt ?? 'never' },
        { title: 'reason', cell: b => b.reason ?? '-' },
        { title: 'by', cell: b => b.by },
        { title: '', cell: b => h('button', { type: 'button', onclick: () => remove(b) }, 'remove') }
      ], items, { 'data-testid': 'bans' }))
    } catch (err) {
      list.replaceChildren(problem(err))
    }
  }
  async function remove (b) {
    try {
      await api(`/api/bans/${encodeURIComponent(b.kind)}/${encodeURIComponent(b.value)}`, { method: 'DELETE' })
      load()
    } catch (err) {
      message.textContent = err.message
    }
  }
  load()
}

export function retainedView (view) {
  let filter = '#'
  const list = h('div')
  view.replaceChildren(h('h2', {}, 'Retained messages'), searchBox('filter, e.g. devices/+/status', filter, v => { filter = v || '#'; load() }), list)
  async function load () {
    try {
      const answer = await api(`/api/retained?limit=200&filter=${encodeURIComponent(filter)}`)
      list.replaceChildren(table([
        { title: 'topic', cell: r => r.topic },
        { title: 'bytes', cell: r => num(r.size) },
        { title: 'QoS', cell: r => String(r.qos) },
        { title: 'stored', cell: r => `${age(r.storedAt)} ago` },
        { title: 'expires', cell: r => r.expiresAt ?? 'never' }
      ], answer.items, { 'data-testid': 'retained' }), answer.cursor !== null ? h('p', {}, 'first 200 shown; narrow the filter') : '')
    } catch (err) {
      list.replaceChildren(problem(err))
    }
  }
  load()
}

export function streamsView (view) {
  const list = h('div')
  const groups = h('div')
  view.replaceChildren(h('h2', {}, 'Log streams'), list, h('h3', {}, 'Consumer groups'), groups)
  async function load () {
    try {
      const streams = (await api('/api/streams')).streams
      list.replaceChildren(streams.length === 0
        ? h('p', {}, 'No log streams: start the broker with --bridge-rule FILTER=STREAM to mirror topics into a durable log.')
        : table([
          { title: 'stream', cell: s => s.name },
          { title: 'store', cell: s => s.store },
          { title: 'records', cell: s => num(s.records) },
          { title: 'next offset', cell: s => num(s.nextOffset) },
          { title: 'records/s', cell: s => typeof s.recordsPerSecond === 'number' ? s.recordsPerSecond.toFixed(1) : '-' },
          { title: 'damaged', cell: s => s.damaged.records > 0 ? `${s.damaged.records} records` : 'no' }
        ], streams, { 'data-testid': 'streams' }))
      // Each stream's groups, with how far each is behind the stream's end.
      const rows = (await Promise.all(streams.map(async s => (await api(`/api/streams/${encodeURIComponent(s.name)}/groups`)).groups.map(g => ({ stream: s.name, ...g }))))).flat()
      groups.replaceChildren(rows.length === 0
        ? h('p', {}, 'No consumer group has committed a position yet (POST /api/streams/STREAM/groups/GROUP {"offset": N}).')
        : table([
          { title: 'stream', cell: r => r.stream },
          { title: 'group', cell: r => r.group },
          { title: 'next offset to read', cell: r => num(r.offset) },
          { title: 'lag (records)', cell: r => num(r.lag) },
          { title: 'committed', cell: r => r.committedAt ? `${age(r.committedAt)} ago` : '-' }
        ], rows, { 'data-testid': 'groups' }))
    } catch (err) {
      list.replaceChildren(problem(err))
    }
  }
  load()
}
