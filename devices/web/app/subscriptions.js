// The page's subscriptions: the ones the user chose (shown with a remove button) and the
// device-status filter the device list needs, which is subscribed only while no chosen
// filter already covers it (so retained states are not delivered twice).
import { h } from './dom.js'
import { covers, filterError } from './topics.js'

// Why a SUBACK refused a filter (MQTT 5 reason codes; 3.1.1 has only 0x80).
const REFUSALS = {
  0x80: 'refused (MQTT 3.1.1 gives no reason; usually the broker\'s ACL)',
  0x83: 'refused by the broker (implementation specific)',
  0x87: 'not authorized: the broker\'s ACL does not let this user read all of it',
  0x8f: 'not a valid topic filter for this broker',
  0x97: 'quota exceeded: this client holds too many subscriptions (--max-subscriptions-per-client)',
  0x9e: 'shared subscriptions are not supported',
  0xa1: 'subscription identifiers are not supported',
  0xa2: 'wildcard subscriptions are not supported'
}

/**
 * Why a one-filter subscribe failed, in words, or null when it was granted. On a refusal
 * MQTT.js calls back with an error carrying the SUBACK packet (and `granted` then holds the
 * QoS asked for, not the code); any other error (the connection went away) is its message.
 */
function refusal (err, granted) {
  const packet = err && err.packet
  const code = packet && packet.granted ? packet.granted[0] : (!err && granted && granted[0] ? granted[0].qos : undefined)
  if (code === undefined) return err ? err.message : 'refused'
  if (code < 0x80) return null
  return REFUSALS[code] ?? `refused (code 0x${code.toString(16)})`
}

export function createSubscriptions (listEl, messageEl, { client, onStatusRefused }) {
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
      const refused = refusal(err, granted)
      if (refused !== null) {
        current.state = 'refused'
        current.detail = refused
        const hint = statusFilter && covers(filter, statusFilter) ? ' Subscribe to the topics this user may read instead; the device list asks for its own.' : ''
        say(`Subscribing ${filter} was refused: ${current.detail}.${hint}`, true)
      } else {
        current.state = 'granted'
        current.detail = `granted QoS ${granted[0].qos}`
        if (announce) say(`Subscribed ${filter} (QoS ${granted[0].qos}).`)
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
      const filter = statusFilter
      c.subscribe(filter, { qos: 1 }, (err, granted) => {
        onStatusRefused(filter, refusal(err, granted))
      })
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
