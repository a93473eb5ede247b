// The message log: newest first, both directions (received and published from this
// page). Pause freezes the view while messages keep being kept; the filter is an MQTT
// topic filter when it has + or #, otherwise text to find in the topic or the payload.
import { batched, clock, h, setText, shorten } from './dom.js'
import { matches } from './topics.js'

const KEEP = 2000 // messages kept for filtering and resuming
const SHOW = 300 // rows in the DOM

export function createMessageLog (listEl, statusEl) {
  let kept = []
  let pending = [] // arrived since the last paint and not yet shown
  let paused = false
  let unseen = 0 // arrived while paused
  let filter = ''
  let test = () => true
  const render = batched(paint, 200)

  function add (entry) {
    kept.push(entry)
    if (kept.length > KEEP * 1.25) kept = kept.slice(-KEEP)
    if (paused) unseen++
    else pending.push(entry)
    render()
  }

  function setPaused (value) {
    paused = value
    if (!paused) {
      unseen = 0
      rebuild()
    }
    render()
  }

  function setFilter (text) {
    filter = text.trim()
    const needle = filter.toLowerCase()
    if (filter === '') test = () => true
    else if (/[+#]/.test(filter)) test = e => matches(filter, e.topic)
    else test = e => e.topic.toLowerCase().includes(needle) || e.text.toLowerCase().includes(needle)
    if (!paused) rebuild()
    render()
  }

  function clear () {
    kept = []
    pending = []
    unseen = 0
    listEl.replaceChildren()
    render()
  }

  function rebuild () {
    listEl.replaceChildren()
    pending = kept.filter(test).slice(-SHOW)
  }

  function paint () {
    if (pending.length > 0) {
      const shown = pending.filter(test).slice(-SHOW)
      pending = []
      const fragment = document.createDocumentFragment()
      for (let i = shown.length - 1; i >= 0; i--) fragment.append(row(shown[i]))
      listEl.prepend(fragment)
      while (listEl.childElementCount > SHOW) listEl.lastElementChild.remove()
    }
    const parts = []
    if (paused) parts.push(`paused: ${unseen} new message${unseen === 1 ? '' : 's'} not shown`)
    if (filter) parts.push(`filter: ${filter}`)
    parts.push(`${listEl.childElementCount} shown of the last ${Math.min(kept.length, KEEP)}`)
    setText(statusEl, parts.join(' · '))
    statusEl.classList.toggle('paused', paused)
  }

  function row (entry) {
    const out = entry.direction === 'out'
    return h('li', { class: `log-entry ${out ? 'out' : 'in'}`, dataset: { topic: entry.topic } },
      h('span', { class: 'log-time' }, clock(entry.time, true)),
      h('span', { class: 'log-dir', title: out ? 'published from this page' : 'received' }, out ? '↑' : '↓'),
      h('span', { class: 'log-topic' }, entry.topic),
      h('span', { class: 'log-flags' }, `q${entry.qos}${entry.retain ? ' r' : ''}`),
      h('span', { class: 'log-payload' }, shorten(entry.text, 400)))
  }

  render()
  return { add, setPaused, setFilter, clear, recent: () => kept }
}
