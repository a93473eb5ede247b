// The live topic tree: one node per topic level, each topic with its last value, when it
// arrived, and its message rate over the last 10 seconds. DOM nodes are made once and
// patched when their topic changes, so a busy broker costs one text update per topic per
// frame, not a redraw of the tree.
import { batched, byName, clock, formatRate, h, setText, shorten } from './dom.js'

const WINDOW_S = 10
const OPEN_DEPTH = 2 // levels shown open when they first appear...
const OPEN_SIBLINGS = 20 // ...unless they have this many siblings (a fleet: devices/<id>/...)

export function createTopicTree (rootEl, summaryEl, { onSelect }) {
  let root = makeRoot()
  let topics = 0
  let messages = 0
  let selected = null
  const dirty = new Set()
  const render = batched(flush, 150)

  function makeRoot () {
    return { children: new Map(), childList: rootEl, depth: -1 }
  }

  function add (entry) {
    let node = root
    for (const segment of entry.topic.split('/')) node = child(node, segment)
    if (!node.last) topics++
    messages++
    node.last = entry
    hit(node, entry.time)
    dirty.add(node)
    render()
  }

  function child (parent, segment) {
    let node = parent.children.get(segment)
    if (node) return node
    const topic = parent.topic === undefined ? segment : `${parent.topic}/${segment}`
    node = { segment, topic, depth: parent.depth + 1, children: new Map(), last: null, sec: 0, buckets: new Uint32Array(WINDOW_S) }
    node.open = node.depth < OPEN_DEPTH && parent.children.size < OPEN_SIBLINGS
    node.twisty = h('button', { type: 'button', class: 'twisty', 'aria-label': `expand ${topic}`, onclick: () => toggle(node) })
    node.valueEl = h('span', { class: 'value' })
    node.rateEl = h('span', { class: 'rate' })
    node.row = h('div', { class: 'node-row', onclick: e => { if (e.target !== node.twisty) select(node) } },
      node.twisty, h('span', { class: 'segment' }, segment === '' ? '(empty)' : segment), node.valueEl, node.rateEl)
    // The full value and its details only when someone points at it.
    node.row.addEventListener('mouseenter', () => {
      const last = node.last
      if (last) node.valueEl.title = `${topic}\n${clock(last.time, true)}  QoS ${last.qos}${last.retain ? '  retained' : ''}\n\n${shorten(last.text, 2000)}`
    })
    node.childList = h('ul', { class: 'children', role: 'group' })
    node.el = h('li', { class: 'node', role: 'treeitem', dataset: { topic } }, node.row, node.childList)
    node.el.segment = segment
    parent.children.set(segment, node)
    insertSorted(parent.childList, node.el, segment)
    if (parent.children.size === OPEN_SIBLINGS) {
      // A fleet after all: fold the siblings opened so far, unless someone opened them.
      for (const sibling of parent.children.values()) {
        if (sibling.open && !sibling.toggled) {
          sibling.open = false
          dirty.add(sibling)
        }
      }
    }
    if (parent.twisty) dirty.add(parent)
    return node
  }

  /** Binary search among the siblings, which are kept in name order. */
  function insertSorted (list, el, segment) {
    const siblings = list.children
    let lo = 0
    let hi = siblings.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (byName(siblings[mid].segment, segment) <= 0) lo = mid + 1
      else hi = mid
    }
    list.insertBefore(el, siblings[lo] ?? null)
  }

  function toggle (node) {
    node.open = !node.open
    node.toggled = true
    dirty.add(node)
    render()
  }

  function select (node) {
    if (!node.last) return toggle(node)
    if (selected) selected.row.classList.remove('selected')
    selected = node
    node.row.classList.add('selected')
    onSelect(node.topic)
  }

  function hit (node, now) {
    advance(node, Math.floor(now / 1000))
    node.buckets[node.sec % WINDOW_S]++
  }

  function advance (node, sec) {
    if (sec <= node.sec) return
    if (sec - node.sec >= WINDOW_S) node.buckets.fill(0)
    else for (let s = node.sec + 1; s <= sec; s++) node.buckets[s % WINDOW_S] = 0
    node.sec = sec
  }

  function rate (node, now) {
    advance(node, Math.floor(now / 1000))
    let sum = 0
    for (const n of node.buckets) sum += n
    return sum / WINDOW_S
  }

  function paint (node, now) {
    const hasChildren = node.children.size > 0
    node.el.classList.toggle('open', node.open)
    node.el.classList.toggle('branch', hasChildren)
    const expanded = String(hasChildren && node.open)
    if (node.el.getAttribute('aria-expanded') !== expanded) node.el.setAttribute('aria-expanded', expanded)
    setText(node.twisty, hasChildren ? (node.open ? '▾' : '▸') : '')
    node.twisty.disabled = !hasChildren
    if (node.last) {
      const text = node.last.text
      setText(node.valueEl, shorten(text.replace(/\s+/g, ' '), 120))
      node.row.classList.toggle('retained', node.last.retain)
      setText(node.rateEl, formatRate(rate(node, now)))
    }
  }

  function flush () {
    const now = Date.now()
    for (const node of dirty) paint(node, now)
    dirty.clear()
    setText(summaryEl, `${topics} topic${topics === 1 ? '' : 's'} · ${messages} message${messages === 1 ? '' : 's'}`)
  }

  /** Rates decay without messages: repaint every topic's rate once a second. */
  function tick () {
    const now = Date.now()
    const walk = node => {
      for (const c of node.children.values()) {
        if (c.last) setText(c.rateEl, formatRate(rate(c, now)))
        walk(c)
      }
    }
    walk(root)
  }

  function clear () {
    rootEl.replaceChildren()
    root = makeRoot()
    topics = 0
    messages = 0
    selected = null
    dirty.clear()
    render()
  }

  setInterval(tick, 1000)
  render()
  return { add, clear }
}
