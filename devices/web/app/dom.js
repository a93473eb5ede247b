// Small DOM and formatting helpers. Text from the broker only ever goes in through
// textContent (never innerHTML): payloads and topics are untrusted.

/** h('div', { class: 'row', dataset: { topic } }, child, 'text', ...) */
export function h (tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (key === 'class') el.className = value
    else if (key === 'dataset') Object.assign(el.dataset, value)
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value)
    else if (value === true) el.setAttribute(key, '')
    else el.setAttribute(key, String(value))
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    el.append(child instanceof Node ? child : String(child))
  }
  return el
}

export const $ = (selector, root = document) => {
  const el = root.querySelector(selector)
  if (!el) throw new Error(`page is missing ${selector}`)
  return el
}

/**
 * Runs `fn` at most once per animation frame and at most every `minGapMs`, however often
 * it is asked for: a thousand messages a second cost a few repaints a second.
 */
export function batched (fn, minGapMs = 0) {
  let queued = false
  let last = 0
  const run = () => {
    queued = false
    last = performance.now()
    fn()
  }
  return () => {
    if (queued) return
    queued = true
    const wait = last + minGapMs - performance.now()
    if (wait > 0) setTimeout(() => requestAnimationFrame(run), wait)
    else requestAnimationFrame(run)
  }
}

/** Sets an element's text only when it changed (a write forces the browser to lay it out again). */
export function setText (el, text) {
  if (el.textContent !== text) el.textContent = text
}

export function clock (ms, withMs = false) {
  const d = new Date(ms)
  const p = (n, w = 2) => String(n).padStart(w, '0')
  const base = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
  return withMs ? `${base}.${p(d.getMilliseconds(), 3)}` : base
}

export function shorten (text, max) {
  return text.length > max ? text.slice(0, max - 1) + '…' : text
}

export function formatRate (perSecond) {
  if (perSecond <= 0) return ''
  if (perSecond < 10) return `${perSecond.toFixed(1)}/s`
  return `${Math.round(perSecond)}/s`
}

const decoder = new TextDecoder('utf-8', { fatal: true })

/** A payload as text: UTF-8 when it is, otherwise a hex preview. */
export function payloadText (bytes) {
  try {
    return decoder.decode(bytes)
  } catch {
    const hex = Array.from(bytes.subarray(0, 64), b => b.toString(16).padStart(2, '0')).join(' ')
    return `<${bytes.length} bytes binary> ${hex}${bytes.length > 64 ? ' …' : ''}`
  }
}

/** Natural order: d2 before d10. */
export const byName = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' }).compare
