// The page's subscriptions: the ones the user chose (shown with a remove button) and the
// device-status filter the device list needs, which is subscribed only while no chosen
// filter already covers it (so retained states are not delivered twice).
import { h } from './dom.js'
import { covers, filterError } from './topics.js'

export function createSubscriptions (listEl, messageEl, { client }) {
  const chosen = new Map() // filter -> { qos, state, detail }
  let statusFilter = null
  let statusSubscribed = false

  function say (text, isError = false) {
    messageEl.textContent = text
    messageEl.classList.toggle('error', isError)
  }

  /** Adds a filter; subscribes at once when connected (and again after every reconnect). */
  function add (filter, qos) {
    const problem = filterError(filter)
    if (problem) return say(problem, true)
    chosen.set(filter, { qos, state: 'pending', detail: '' })
    paint()
    const c = client()
    if (c && c.connected) subscribe(c, filter, true)
    else say(`${filter} will be subscribed when connected.`)
  }

  function remove (filter) {
    chosen.delete(filter)
    paint()
    const c = client()
    if (c && c.connected) {
      c.unsubscribe(filter, err => say(err ? `Unsubscribing ${filter} failed: ${err.message}` : `Unsubscribed ${filter}.`, Boolean(err)))
    }
    syncStatus()
  }

  /** `announce`: say so when it worked (the automatic ones after a reconnect stay quiet). */
  function subscribe (c, filter, announce = false) {
    const sub = chosen.get(filter)
    c.subscribe(filter, { qos: sub.qos }, (err, granted) => {
      const current = chosen.get(filter)
      if (!current) return
      const code = granted && granted[0] ? granted[0].qos : 128
      if (err || code === 128) {
        current.state = 'refused'
        current.detail = err ? err.message : 'the broker refused this filter (not allowed?)'
        say(`Subscribing ${filter} failed: ${current.detail}`, true)
      } else {
        current.state = 'granted'
        current.detail = `granted QoS ${code}`
        if (announce) say(`Subscribed ${filter} (QoS ${code}).`)
      }
      paint()
      syncStatus()
    })
  }

  /** On a new connection: subscribe everything chosen, then the device-status filter if needed. */
  function connected (c) {
    statusSubscribed = false
    for (const [filter, sub] of chosen) {
      sub.state = 'pending'
      subscribe(c, filter)
    }
    paint()
    syncStatus()
  }

  function setStatusFilter (filter) {
    const c = client()
    if (statusSubscribed && c && c.connected && statusFilter) c.unsubscribe(statusFilter)
    statusSubscribed = false
    statusFilter = filter
    syncStatus()
  }

  function syncStatus () {
    const c = client()
    if (!c || !c.connected || !statusFilter) return
    const covered = [...chosen].some(([f, s]) => s.state !== 'refused' && covers(f, statusFilter))
    if (!covered && !statusSubscribed) {
      statusSubscribed = true
      c.subscribe(statusFilter, { qos: 1 })
    } else if (covered && statusSubscribed) {
      statusSubscribed = false
      c.unsubscribe(statusFilter)
    }
  }

  function paint () {
    listEl.replaceChildren(...[...chosen].map(([filter, sub]) =>
      h('li', { class: `subscription ${sub.state}`, dataset: { filter }, title: sub.detail },
        h('span', { class: 'sub-filter' }, filter),
        h('span', { class: 'sub-qos' }, `QoS ${sub.qos}`),
        h('button', { type: 'button', class: 'link', 'aria-label': `unsubscribe ${filter}`, onclick: () => remove(filter) }, '×'))))
  }

  return { add, remove, connected, setStatusFilter, filters: () => [...chosen.keys()] }
}
