// Overview: connections, messages in/out per second (live chart from /metrics, every 2 s),
// storage state (/healthz) and the cluster's nodes (/api/nodes).
import { api, health, metricSum, metricsText } from './api.js'
import { h, num, problem, table } from './util.js'

const POLL_MS = 2000
const POINTS = 150

export function overview (view) {
  const figures = h('dl', { class: 'figures', 'data-testid': 'figures' })
  const canvas = h('canvas', { width: 900, height: 220, 'aria-label': 'messages in and out per second' })
  const nodes = h('div', { class: 'nodes' })
  view.replaceChildren(h('h2', {}, 'Overview'), figures, h('h3', {}, 'Messages per second'),
    h('p', { class: 'legend' }, h('span', { class: 'in' }, '— in'), ' ', h('span', { class: 'out' }, '— out')), canvas, h('h3', {}, 'Nodes'), nodes)
  const series = []
  let last = null
  let stopped = false

  const tick = async () => {
    try {
      const [text, healthz, nodeList] = await Promise.all([metricsText(), health(), api('/api/nodes')])
      const now = { t: Date.now(), in: metricSum(text, 'swallow_messages_received_total'), out: metricSum(text, 'swallow_messages_sent_total') }
      if (last !== null) series.push({ in: (now.in - last.in) * 1000 / (now.t - last.t), out: (now.out - last.out) * 1000 / (now.t - last.t) })
      if (series.length > POINTS) series.shift()
      last = now
      const rate = series.at(-1)
      const connected = nodeList.items.reduce((sum, n) => sum + n.clients, 0)
      figures.replaceChildren(...[
        ['connections', num(connected)],
        ['in', rate ? `${rate.in.toFixed(1)}/s` : '…'],
        ['out', rate ? `${rate.out.toFixed(1)}/s` : '…'],
        ['storage', `${healthz.storage.kind}: ${healthz.storage.state}`],
        ['nodes', String(nodeList.items.length)],
        ['version', healthz.version]
      ].map(([k, v]) => h('div', { 'data-figure': k }, h('dt', {}, k), h('dd', {}, v))))
      nodes.replaceChildren(table([
        { title: 'node', cell: n => n.id },
        { title: 'clients', cell: n => num(n.clients) },
        { title: '', cell: n => n.self ? 'this node (answering)' : '' }
      ], nodeList.items))
      draw(canvas, series)
    } catch (err) {
      figures.replaceChildren(problem(err))
    }
  }
  const timer = setInterval(() => { if (!stopped) tick() }, POLL_MS)
  tick()
  return () => { stopped = true; clearInterval(timer) }
}

function draw (canvas, series) {
  const ctx = canvas.getContext('2d')
  const { width, height } = canvas
  ctx.clearRect(0, 0, width, height)
  const max = Math.max(1, ...series.flatMap(p => [p.in, p.out]))
  ctx.fillStyle = getComputedStyle(canvas).color
  ctx.font = '12px system-ui'
  ctx.fillText(`${max.toFixed(0)}/s`, 4, 12)
  for (const [key, color] of [['in', '#178a6a'], ['out', '#c0603a']]) {
    ctx.strokeStyle = color
    ctx.lineWidth = 2
    ctx.beginPath()
    series.forEach((p, i) => {
      const x = (i / (POINTS - 1)) * width
      const y = height - (p[key] / max) * (height - 16)
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y)
    })
    ctx.stroke()
  }
}
