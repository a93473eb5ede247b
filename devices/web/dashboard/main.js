// The operator dashboard (/dashboard): asks for the admin token, then shows the view the
// URL's hash names. Every view reads the fleet API (plugins/fleet) and the existing
// retained and log-stream APIs; nothing is loaded from anywhere but the broker.
import './style.css'
import { $ } from '../app/dom.js'
import { api, token, whenUnauthorized } from './api.js'
import { clientsView, clientView } from './clients.js'
import { bansView, retainedView, streamsView, subscriptionsView } from './lists.js'
import { overview } from './overview.js'

const view = $('#view')
const tokenForm = $('#token-form')
const tokenInput = $('#token-input')
const tokenMessage = $('#token-message')
const signOut = $('#sign-out')
let stop = null

function askForToken (message = '') {
  tokenForm.hidden = false
  signOut.hidden = true
  tokenMessage.textContent = message
  view.replaceChildren()
  tokenInput.focus()
}

whenUnauthorized(() => {
  token.clear()
  askForToken('The broker refused that token.')
})

tokenForm.addEventListener('submit', async e => {
  e.preventDefault()
  token.set(tokenInput.value)
  try {
    await api('/api/nodes')
    tokenForm.hidden = true
    signOut.hidden = false
    route()
  } catch (err) {
    if (err.status !== 401) tokenMessage.textContent = err.message
  }
})

signOut.addEventListener('click', () => {
  token.clear()
  askForToken()
})

function route () {
  if (stop) stop()
  stop = null
  if (!tokenForm.hidden) return
  const hash = location.hash.replace(/^#\/?/, '') || 'overview'
  const [path, queryText = ''] = hash.split('?')
  const [name, ...rest] = path.split('/')
  const query = new URLSearchParams(queryText)
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('current', a.getAttribute('href') === `#/${name}`)
  if (name === 'clients' && rest.length > 0) return clientView(view, decodeURIComponent(rest.join('/')))
  const views = { overview, clients: v => clientsView(v, query), subscriptions: subscriptionsView, bans: bansView, retained: retainedView, streams: streamsView }
  stop = (views[name] ?? overview)(view) ?? null
}

window.addEventListener('hashchange', route)

// A loopback-only broker without a token answers without one.
api('/api/nodes').then(() => { tokenForm.hidden = true; signOut.hidden = token.get() === null; route() }, () => askForToken(token.get() ? 'The broker refused the saved token.' : ''))
