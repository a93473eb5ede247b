// A line chart of one numeric field of one topic over time, drawn on a canvas. The
// field is a number payload, or a number inside a JSON payload (nested keys as a.b).
import { batched, clock, h } from './dom.js'

const MAX_POINTS = 600
const SKIP_BY_DEFAULT = /^(seq|sequence|ts|time|timestamp|id|uptime|boot)$/i // counters and clocks, not readings

/** Every numeric field of a payload: { '(value)': n } for a bare number, dotted paths for JSON. */
export function numericFields (text) {
  const out = {}
  let value
  try {
    value = JSON.parse(text)
  } catch {
    return out
  }
  const walk = (v, path, depth) => {
    if (typeof v === 'number' && Number.isFinite(v)) out[path || '(value)'] = v
    else if (v && typeof v === 'object' && !Array.isArray(v) && depth < 4) {
      for (const [k, child] of Object.entries(v)) walk(child, path ? `${path}.${k}` : k, depth + 1)
    }
  }
  walk(value, '', 0)
  return out
}

/** Parsed once per message, however often the chart is redrawn. */
function fieldsOf (entry) {
  if (!entry.fields) entry.fields = numericFields(entry.text)
  return entry.fields
}

export function createChart ({ canvas, topicEl, fieldSelect, infoEl }) {
  let topic = null
  let field = null
  let history = [] // received entries of the chosen topic
  const render = batched(draw)

  fieldSelect.addEventListener('change', () => {
    field = fieldSelect.value || null
    render()
  })
  new ResizeObserver(render).observe(canvas)

  /** Chooses the topic to chart, starting from the messages already kept for it. */
  function show (nextTopic, earlier) {
    topic = nextTopic
    field = null
    history = earlier.filter(e => e.topic === topic && e.direction === 'in').slice(-MAX_POINTS)
    topicEl.textContent = topic
    updateFields(history.length ? history[history.length - 1] : null)
    render()
  }

  function onMessage (entry) {
    if (entry.topic !== topic) return
    history.push(entry)
    if (history.length > MAX_POINTS * 1.25) history = history.slice(-MAX_POINTS)
    updateFields(entry)
    render()
  }

  function updateFields (latest) {
    const names = latest ? Object.keys(fieldsOf(latest)) : []
    const current = [...fieldSelect.options].map(o => o.value)
    if (names.length && names.join() !== current.join()) {
      fieldSelect.replaceChildren(...names.map(n => h('option', { value: n }, n)))
    }
    if (!field || !names.includes(field)) field = names.find(n => !SKIP_BY_DEFAULT.test(n)) ?? names[0] ?? null
    if (field) fieldSelect.value = field
    fieldSelect.disabled = names.length === 0
  }

  function points () {
    const out = []
    for (const e of history) {
      const v = fieldsOf(e)[field]
      if (v !== undefined) out.push({ t: e.time, v })
    }
    return out.slice(-MAX_POINTS)
  }

  function draw () {
    const dpr = window.devicePixelRatio || 1
    const width = canvas.clientWidth
    const height = canvas.clientHeight
    if (width === 0 || height === 0) return
    canvas.width = Math.round(width * dpr)
    canvas.height = Math.round(height * dpr)
    const g = canvas.getContext('2d')
    g.setTransform(dpr, 0, 0, dpr, 0, 0)
    g.clearRect(0, 0, width, height)
    const style = getComputedStyle(canvas)
    const ink = style.getPropertyValue('--chart-ink').trim() || '#555'
    const line = style.getPropertyValue('--chart-line').trim() || '#0a7'
    const grid = style.getPropertyValue('--chart-grid').trim() || '#ddd'
    g.font = '11px system-ui, sans-serif'
    g.fillStyle = ink

    const data = field ? points() : []
    if (data.length === 0) {
      infoEl.textContent = ''
      g.textAlign = 'center'
      g.fillText(topic ? `no numeric values on ${topic} yet` : 'click a topic in the tree to chart it', width / 2, height / 2)
      return
    }
    let lo = Math.min(...data.map(p => p.v))
    let hi = Math.max(...data.map(p => p.v))
    if (lo === hi) { lo -= 1; hi += 1 }
    const pad = (hi - lo) * 0.08
    lo -= pad
    hi += pad
    const t0 = data[0].t
    const t1 = Math.max(data[data.length - 1].t, t0 + 1000)
    const left = 48
    const right = 8
    const top = 8
    const bottom = 18
    const x = t => left + (t - t0) / (t1 - t0) * (width - left - right)
    const y = v => top + (hi - v) / (hi - lo) * (height - top - bottom)

    g.strokeStyle = grid
    g.lineWidth = 1
    g.textAlign = 'right'
    g.textBaseline = 'middle'
    for (let i = 0; i <= 4; i++) {
      const v = lo + (hi - lo) * i / 4
      const yy = Math.round(y(v)) + 0.5
      g.beginPath()
      g.moveTo(left, yy)
      g.lineTo(width - right, yy)
      g.stroke()
      g.fillText(formatTick(v, hi - lo), left - 4, yy)
    }
    g.textBaseline = 'alphabetic'
    g.textAlign = 'left'
    g.fillText(clock(t0), left, height - 4)
    g.textAlign = 'right'
    g.fillText(clock(t1), width - right, height - 4)

    g.strokeStyle = line
    g.lineWidth = 2
    g.lineJoin = 'round'
    g.beginPath()
    data.forEach((p, i) => i === 0 ? g.moveTo(x(p.t), y(p.v)) : g.lineTo(x(p.t), y(p.v)))
    g.stroke()
    const last = data[data.length - 1]
    g.fillStyle = line
    g.beginPath()
    g.arc(x(last.t), y(last.v), 3, 0, Math.PI * 2)
    g.fill()
    infoEl.textContent = `${field} = ${formatValue(last.v)} at ${clock(last.t)} · ${data.length} point${data.length === 1 ? '' : 's'}`
  }

  function formatValue (v) {
    return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)))
  }

  function formatTick (v, span) {
    const digits = span >= 100 ? 0 : span >= 10 ? 1 : span >= 1 ? 2 : 3
    return v.toFixed(digits)
  }

  render()
  return { show, onMessage, get topic () { return topic } }
}
