// The strip at the top: the broker's own figures (clients, messages in and out per second,
// retained messages, storage, uptime), read every few seconds from /healthz and /metrics of
// the Swallow that served this page.
import { setText } from './dom.js'

const POLL_MS = 2000

/** Sums the samples of one metric (all its label sets) in Prometheus text; null when absent. */
export function metricSum (text, name) {
  let sum = null
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue
    sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

function duration (seconds) {
  if (seconds < 60) return `${seconds} s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.floor(seconds % 3600 / 60)} min`
  return `${Math.floor(seconds / 86400)} d ${Math.floor(seconds % 86400 / 3600)} h`
}

export function startOverview (el) {
  let previous = null // { at, received, sent }
  const field = name => el.querySelector(`[data-figure="${name}"]`)

  async function poll () {
    try {
      const [health, metrics] = await Promise.all([
        fetch('/healthz', { cache: 'no-store' }).then(r => r.json()),
        fetch('/metrics', { cache: 'no-store' }).then(r => { if (!r.ok) throw new Error(`/metrics answered ${r.status}`); return r.text() })
      ])
      const now = performance.now()
      const received = metricSum(metrics, 'swallow_messages_received_total') ?? 0
      const sent = metricSum(metrics, 'swallow_messages_sent_total') ?? 0
      const retained = metricSum(metrics, 'swallow_retained_messages')
      const rate = (n, p) => previous ? `${Math.max(0, Math.round((n - p) / ((now - previous.at) / 1000)))}/s` : '…'
      setText(field('clients'), String(health.clients))
      setText(field('in'), rate(received, previous?.received))
      setText(field('out'), rate(sent, previous?.sent))
      setText(field('retained'), retained === null ? 'n/a' : String(retained))
      setText(field('storage'), `${health.storage.kind} ${health.storage.state}`)
      setText(field('uptime'), duration(health.uptimeSeconds))
      el.dataset.storage = health.storage.state
      el.dataset.state = 'ok'
      previous = { at: now, received, sent }
    } catch (err) {
      el.dataset.state = 'unavailable'
      el.title = `the broker's figures are not available: ${err.message}`
    }
  }
  poll()
  setInterval(poll, POLL_MS)
}
