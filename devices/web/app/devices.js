// The device list: one row per <prefix>/<id>/status topic (retained by each device:
// "online" as its birth message, "offline" as its will). An empty retained payload
// removes the device. A state that came from the retained store shows the time it was
// stored (asked of the broker's retained API), not the time the page received it; every
// other message under <prefix>/<id>/ counts as a sign of life (last seen), and a device
// silent for STALE_INTERVALS of its own usual interval gets a "stale" badge.
import { batched, byName, clock, h, setText } from './dom.js'
import { createActivity } from './activity.js'

export function createDeviceList (listEl, summaryEl, { onSelect, storedTimes }) {
  let prefix = 'devices'
  const devices = new Map() // id -> { status, since (ms | null: not known), retained, row, dirty }
  const activity = createActivity()
  const render = batched(draw, 200)
  let order = [] // ids in name order; recomputed when a device comes or goes
  let reorder = false
  let lookup = null // a pending retained-time lookup
  let problem = null // why the device-status subscription was refused, if it was

  function statusFilter () {
    return `${prefix}/+/status`
  }

  function setPrefix (next) {
    prefix = next
    problem = null
    devices.clear()
    activity.clear()
    order = []
    listEl.replaceChildren()
    render()
  }

  /** Takes every received message; keeps the ones that are device states or signs of life. */
  function onMessage (entry) {
    const levels = entry.topic.split('/')
    const prefixLevels = prefix.split('/').length
    if (levels.length < prefixLevels + 2 || levels.slice(0, prefixLevels).join('/') !== prefix) return
    const id = levels[prefixLevels]
    if (levels.length !== prefixLevels + 2 || levels[prefixLevels + 1] !== 'status') {
      if (!entry.retain) activity.seen(id, entry.time)
      const known = devices.get(id)
      if (known) known.dirty = true
      return render()
    }
    const status = entry.text.trim()
    const known = devices.get(id)
    if (status === '') {
      if (known && known.row) known.row.remove()
      reorder = reorder || devices.delete(id)
    } else if (!known || known.status !== status) {
      // A retained state is as old as the store says; a live one is from now.
      const state = { status, since: entry.retain ? null : entry.time, retained: entry.retain, row: known ? known.row : null, dirty: true }
      devices.set(id, state)
      reorder = reorder || !known
      if (entry.retain) askStoredTimes()
    }
    render()
  }

  /** One lookup for a burst of retained states (a new subscription delivers them all at once). */
  function askStoredTimes () {
    if (lookup) return
    lookup = setTimeout(async () => {
      lookup = null
      const times = await storedTimes(statusFilter()).catch(() => new Map())
      for (const [id, device] of devices) {
        if (!device.retained || device.since !== null) continue
        device.since = times.get(`${prefix}/${id}/status`) ?? undefined // undefined: the broker did not say
        device.dirty = true
      }
      render()
    }, 100)
  }

  function draw () {
    if (reorder) {
      order = [...devices.keys()].sort(byName)
      reorder = false
    }
    let online = 0
    let stale = 0
    let previous = null
    const now = Date.now()
    for (const id of order) {
      const device = devices.get(id)
      if (device.status === 'online') online++
      if (device.status === 'online' && activity.isStale(id, now)) stale++
      if (!device.row) {
        device.row = rowFor(id)
        device.dirty = true
      }
      if (device.dirty || activity.has(id)) {
        fill(id, device, now)
        device.dirty = false
      }
      // Keep the rows in name order, moving only the ones that are out of place.
      const expected = previous ? previous.nextSibling : listEl.firstChild
      if (expected !== device.row) listEl.insertBefore(device.row, expected)
      previous = device.row
    }
    const offline = order.length - online
    summaryEl.classList.toggle('error', problem !== null)
    if (problem !== null) setText(summaryEl, problem)
    else setText(summaryEl, order.length === 0
      ? `no devices yet (waiting for retained ${statusFilter()} messages)`
      : `${online} online${stale > 0 ? ` (${stale} stale)` : ''} · ${offline} not online · ${order.length} in all`)
  }

  function rowFor (id) {
    return h('li', { class: 'device', dataset: { device: id } },
      h('button', { type: 'button', class: 'device-button', onclick: () => onSelect(id, prefix) },
        h('span', { class: 'dot', 'aria-hidden': 'true' }),
        h('span', { class: 'device-id' }, id),
        h('span', { class: 'device-status' }),
        h('span', { class: 'device-since' }),
        h('span', { class: 'device-seen' })))
  }

  function fill (id, device, now) {
    const row = device.row
    const known = device.status === 'online' || device.status === 'offline'
    row.dataset.status = known ? device.status : 'other'
    if (typeof device.since === 'number') row.dataset.since = String(device.since)
    else delete row.dataset.since
    const since = device.since === null ? 'since …' : device.since === undefined ? 'retained, time unknown' : `since ${clock(device.since)}`
    setText(row.querySelector('.device-status'), device.status)
    setText(row.querySelector('.device-since'), since)
    const stale = device.status === 'online' && activity.isStale(id, now)
    if (stale) row.dataset.stale = 'true'
    else delete row.dataset.stale
    setText(row.querySelector('.device-seen'), activity.describe(id, now, stale))
    row.title = `${prefix}/${id}/status = ${device.status} (${typeof device.since === 'number' ? `since ${new Date(device.since).toLocaleString()}` : since})`
  }

  /** The device list's own subscription was refused (null: granted). */
  function setStatusProblem (filter, reason) {
    problem = reason === null ? null : `The broker refused ${filter}, which the device list needs: ${reason}.`
    render()
  }

  // "seen 4 s ago" and the stale badge change with time alone.
  setInterval(() => { if (activity.size() > 0) render() }, 500)
  render()
  return { onMessage, setPrefix, setStatusProblem, statusFilter, get prefix () { return prefix } }
}
