// The device list: one row per <prefix>/<id>/status topic (retained by each device:
// "online" as its birth message, "offline" as its will). An empty retained payload
// removes the device.
import { batched, byName, clock, h, setText } from './dom.js'

export function createDeviceList (listEl, summaryEl, { onSelect }) {
  let prefix = 'devices'
  const devices = new Map() // id -> { status, since, row }
  const render = batched(draw, 200)
  let order = [] // ids in name order; recomputed when a device comes or goes
  let reorder = false

  function statusFilter () {
    return `${prefix}/+/status`
  }

  function setPrefix (next) {
    prefix = next
    devices.clear()
    order = []
    listEl.replaceChildren()
    render()
  }

  /** Takes every received message; keeps the ones that are device states. */
  function onMessage (entry) {
    const levels = entry.topic.split('/')
    const prefixLevels = prefix.split('/').length
    if (levels.length !== prefixLevels + 2 || levels[prefixLevels + 1] !== 'status') return
    if (levels.slice(0, prefixLevels).join('/') !== prefix) return
    const id = levels[prefixLevels]
    const status = entry.text.trim()
    const known = devices.get(id)
    if (status === '') {
      if (known && known.row) known.row.remove()
      reorder = reorder || devices.delete(id)
    } else if (!known) {
      devices.set(id, { status, since: entry.time, row: null })
      reorder = true
    } else if (known.status !== status) {
      known.status = status
      known.since = entry.time
      known.dirty = true
    }
    render()
  }

  function draw () {
    if (reorder) {
      order = [...devices.keys()].sort(byName)
      reorder = false
    }
    const ids = order
    let online = 0
    let previous = null
    for (const id of ids) {
      const device = devices.get(id)
      if (device.status === 'online') online++
      if (!device.row) {
        device.row = rowFor(id)
        device.dirty = true
      }
      if (device.dirty) {
        fill(device)
        device.dirty = false
      }
      // Keep the rows in name order, moving only the ones that are out of place.
      const expected = previous ? previous.nextSibling : listEl.firstChild
      if (expected !== device.row) listEl.insertBefore(device.row, expected)
      previous = device.row
    }
    const offline = ids.length - online
    setText(summaryEl, ids.length === 0
      ? `no devices yet (waiting for retained ${statusFilter()} messages)`
      : `${online} online · ${offline} not online · ${ids.length} in all`)
  }

  function rowFor (id) {
    return h('li', { class: 'device', dataset: { device: id } },
      h('button', { type: 'button', class: 'device-button', onclick: () => onSelect(id, prefix) },
        h('span', { class: 'dot', 'aria-hidden': 'true' }),
        h('span', { class: 'device-id' }, id),
        h('span', { class: 'device-status' }),
        h('span', { class: 'device-since' })))
  }

  function fill (device) {
    const row = device.row
    const known = device.status === 'online' || device.status === 'offline'
    row.dataset.status = known ? device.status : 'other'
    row.querySelector('.device-status').textContent = device.status
    row.querySelector('.device-since').textContent = `since ${clock(device.since)}`
    row.title = `${prefix}/${row.dataset.device}/status = ${device.status} (since ${new Date(device.since).toLocaleString()})`
  }

  render()
  return { onMessage, setPrefix, statusFilter, get prefix () { return prefix } }
}
