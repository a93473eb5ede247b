// Shared pieces of the dashboard views: tables, ages, numbers. Text from the broker goes in
// through textContent only (client ids and topics are untrusted).
import { h } from '../app/dom.js'

export { h }

/** A table: `columns` [{ title, cell: row => Node|string }]. */
export function table (columns, rows, attrs = {}) {
  return h('table', attrs,
    h('thead', {}, h('tr', {}, ...columns.map(c => h('th', { scope: 'col' }, c.title)))),
    h('tbody', {}, ...rows.map(r => h('tr', {}, ...columns.map(c => h('td', {}, c.cell(r)))))))
}

export function age (iso) {
  if (!iso) return '-'
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor(s / 60) % 60}m`
  return `${Math.floor(s / 86400)}d ${Math.floor(s / 3600) % 24}h`
}

export function num (n) {
  if (typeof n !== 'number') return '-'
  return n.toLocaleString('en')
}

/** A view's error line (the API's message), instead of its content. */
export function problem (err) {
  return h('p', { class: 'problem', role: 'alert' }, err.message)
}

/** A search form that calls `onSearch(value)` on submit and on typing (debounced). */
export function searchBox (label, value, onSearch) {
  let timer = null
  const input = h('input', { type: 'search', value, 'aria-label': label, placeholder: label })
  input.addEventListener('input', () => {
    clearTimeout(timer)
    timer = setTimeout(() => onSearch(input.value), 300)
  })
  return h('form', { class: 'search', onsubmit: e => { e.preventDefault(); clearTimeout(timer); onSearch(input.value) } }, input, h('button', { type: 'submit' }, 'search'))
}

/** Previous / next buttons for an API page. */
export function pager (page, go) {
  return h('div', { class: 'pager' },
    h('button', { type: 'button', disabled: page.page <= 1, onclick: () => go(page.page - 1) }, '‹ previous'),
    h('span', {}, `page ${page.page} of ${page.pages} (${num(page.total)})`),
    h('button', { type: 'button', disabled: page.page >= page.pages, onclick: () => go(page.page + 1) }, 'next ›'))
}
