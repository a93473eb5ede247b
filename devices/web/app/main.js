// The browser client: wires the connection to the panels. Every received message goes
// to the device list, the topic tree, the log and the chart, in that order.
import './style.css'
import { brokerUrl, loadPageConfig, openConnection } from './connection.js'
import { createChart } from './chart.js'
import { createDeviceList } from './devices.js'
import { $, payloadText } from './dom.js'
import { createMessageLog } from './log.js'
import { startOverview } from './overview.js'
import { createPublishForm } from './publish.js'
import { createSubscriptions } from './subscriptions.js'
import { createTopicTree } from './tree.js'

const STATE_TEXT = {
  connecting: 'connecting…',
  connected: 'connected',
  reconnecting: 'reconnecting…',
  disconnected: 'disconnected',
  refused: 'refused'
}

let current = null // the MQTT.js client of the current connection
let ownBroker = null // ws URL of the Swallow that served this page: its API knows when retained messages were stored
let generation = 0 // ignores late events from a connection that was replaced
const client = () => current

const connectForm = $('#connect-form')
const connectMessage = $('#connect-message')

const log = createMessageLog($('#log'), $('#log-status'))
const chart = createChart({ canvas: $('#chart'), topicEl: $('#chart-topic'), fieldSelect: $('#chart-field'), infoEl: $('#chart-info') })
const tree = createTopicTree($('#tree'), $('#tree-summary'), { onSelect: topic => chart.show(topic, log.recent()) })
const publish = createPublishForm($('#publish-form'), { client, onPublished: entry => log.add(entry) })
const devices = createDeviceList($('#devices'), $('#devices-summary'), {
  onSelect (id, prefix) {
    chart.show(`${prefix}/${id}/telemetry`, log.recent())
    publish.setTopic(`${prefix}/${id}/cmd`)
  },
  storedTimes
})
const subscriptions = createSubscriptions($('#subscriptions'), $('#subscribe-message'), {
  client,
  onStatusRefused: (filter, reason) => devices.setStatusProblem(filter, reason)
})

/** topic -> when the broker stored its retained message (ms), from GET /api/retained. */
async function storedTimes (filter) {
  if (ownBroker === null || connectForm.elements.url.value.trim() !== ownBroker) throw new Error('another broker')
  const times = new Map()
  let cursor = null
  for (let page = 0; page < 10; page++) {
    const query = `filter=${encodeURIComponent(filter)}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`
    const res = await fetch(`/api/retained?${query}`, { cache: 'no-store' })
    if (!res.ok) throw new Error(`GET /api/retained answered ${res.status}`)
    const body = await res.json()
    for (const item of body.items) times.set(item.topic, Date.parse(item.storedAt))
    cursor = body.cursor
    if (!cursor) break
  }
  return times
}

function onMessage (topic, payload, packet) {
  const entry = { topic, text: payloadText(payload), qos: packet.qos, retain: packet.retain, time: Date.now(), direction: 'in' }
  devices.onMessage(entry)
  tree.add(entry)
  log.add(entry)
  chart.onMessage(entry)
}

function showState (state, detail) {
  document.body.dataset.mqtt = state
  $('#conn-state').textContent = STATE_TEXT[state] ?? state
  $('#conn-detail').textContent = state === 'connected' ? detail : ''
  $('#disconnect').disabled = current === null
  if (state === 'refused') say(`The broker refused the connection: ${detail}.`, true)
  else if (state === 'reconnecting' && detail) say(detail, true)
  else if (state === 'connected') say('')
}

function say (text, isError = false) {
  connectMessage.textContent = text
  connectMessage.classList.toggle('error', isError)
}

function connect () {
  const url = connectForm.elements.url.value.trim()
  if (!/^wss?:\/\//.test(url)) return say('Enter the broker\'s WebSocket URL, e.g. ws://localhost:8083/mqtt.', true)
  const username = connectForm.elements.username.value.trim()
  const prefix = connectForm.elements.prefix.value.trim().replace(/\/+$/, '') || 'devices'
  remember({ username, prefix })
  disconnect()
  devices.setPrefix(prefix)
  subscriptions.setStatusFilter(devices.statusFilter())
  const mine = ++generation
  const c = openConnection({
    url,
    username,
    password: connectForm.elements.password.value,
    protocolVersion: Number(connectForm.elements.protocol.value),
    onState: (state, detail) => { if (mine === generation) showState(state, detail) }
  })
  current = c
  c.on('connect', () => { if (mine === generation) subscriptions.connected(c) })
  c.on('message', onMessage)
  showState('connecting', url)
}

function disconnect () {
  if (current === null) return
  const c = current
  current = null
  generation++
  c.end(true)
  showState('disconnected', '')
}

function remember (values) {
  try {
    for (const [k, v] of Object.entries(values)) localStorage.setItem(`swallow.${k}`, v)
  } catch {}
}

function recall (key) {
  try {
    return localStorage.getItem(`swallow.${key}`)
  } catch {
    return null
  }
}

function wireControls () {
  connectForm.addEventListener('submit', e => {
    e.preventDefault()
    connect()
  })
  $('#disconnect').addEventListener('click', disconnect)
  $('#subscribe-form').addEventListener('submit', e => {
    e.preventDefault()
    const form = e.target
    subscriptions.add(form.elements.filter.value.trim(), Number(form.elements.qos.value))
  })
  const pause = $('#log-pause')
  pause.addEventListener('click', () => {
    const paused = pause.getAttribute('aria-pressed') !== 'true'
    pause.setAttribute('aria-pressed', String(paused))
    pause.textContent = paused ? 'Resume' : 'Pause'
    log.setPaused(paused)
  })
  $('#log-filter').addEventListener('input', e => log.setFilter(e.target.value))
  $('#log-clear').addEventListener('click', () => log.clear())
  $('#tree-clear').addEventListener('click', () => tree.clear())
}

async function start () {
  wireControls()
  let config = { wsPort: null, wsPath: '/mqtt', devicePrefix: 'devices' }
  try {
    config = await loadPageConfig()
  } catch (err) {
    say(`Could not read the broker's settings (${err.message}); enter the WebSocket URL.`, true)
  }
  const url = brokerUrl(config, window.location)
  ownBroker = url
  connectForm.elements.url.value = url ?? ''
  if (config.pageOriginAllowed === false) {
    // The handshake would fail as if the broker were down: say why instead of trying.
    say(`This page's origin ${config.pageOrigin} is not in the broker's --ws-origins, so its WebSocket refuses this page. Add it (--ws-origins ${config.pageOrigin},...), or enter another broker's ws:// URL.`, true)
    startOverview($('#overview'))
    return
  }
  startOverview($('#overview'))
  connectForm.elements.username.value = recall('username') ?? ''
  connectForm.elements.prefix.value = recall('prefix') ?? config.devicePrefix
  subscriptions.add('#', 0)
  $('#subscribe-message').textContent = ''
  $('#disconnect').disabled = true
  if (url) connect()
  else if (config.wsPort === null) say('The broker\'s WebSocket listener is off: start Swallow with --ws-port 8083, or enter another broker\'s ws:// URL.', true)
}

start()
