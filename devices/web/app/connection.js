// Where the broker is (asked of the server that served this page) and one MQTT.js
// connection over WebSocket, reporting its state as plain words.
import mqtt from 'mqtt'

/**
 * Reads /api/web/config. When the WebSocket listener was bound to a free port
 * (--ws-port 0), the real port is read from /healthz, which lists the bound listeners.
 */
export async function loadPageConfig () {
  const res = await fetch('/api/web/config', { cache: 'no-store' })
  if (!res.ok) throw new Error(`GET /api/web/config answered ${res.status}`)
  const config = await res.json()
  if (config.wsPort === 0) {
    const health = await fetch('/healthz', { cache: 'no-store' }).then(r => r.json()).catch(() => null)
    const ws = health && health.listeners && health.listeners.ws
    config.wsPort = ws ? Number(new URL(ws).port) : null
  }
  return config
}

/** ws://<this page's host>:<wsPort><wsPath>, or null when the WebSocket listener is off. */
export function brokerUrl (config, location) {
  if (config.wsPort === null || config.wsPort === undefined) return null
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname
  return `${scheme}://${host}:${config.wsPort}${config.wsPath}`
}

// CONNACK refusals: MQTT 3.1.1 return codes, and the MQTT 5 reason codes Swallow sends.
const CONNACK_REFUSALS = {
  1: 'the broker does not accept this MQTT protocol version',
  2: 'the broker refused the client id',
  3: 'the broker is unavailable',
  4: 'wrong username or password',
  5: 'not authorized: enter a username and password the broker accepts',
  0x84: 'the broker does not accept this MQTT protocol version: choose MQTT 3.1.1',
  0x85: 'the broker refused the client id',
  0x86: 'wrong username or password',
  0x87: 'not authorized: enter a username and password the broker accepts',
  0x88: 'the broker is unavailable',
  0x89: 'the broker is busy',
  0x8a: 'locked out: too many failed logins, or banned; try again later',
  0x8c: 'the broker does not support this authentication method'
}

/**
 * Connects and reports states through onState(state, detail):
 * 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'refused'.
 * A refusal (bad credentials) stops reconnecting; a lost connection retries every 2 s.
 */
export function openConnection ({ url, username, password, protocolVersion, onState }) {
  const clientId = `swallow-web-${Math.random().toString(16).slice(2, 10)}`
  const client = mqtt.connect(url, {
    clientId,
    username: username || undefined,
    password: password || undefined,
    protocolVersion,
    clean: true,
    keepalive: 30,
    reconnectPeriod: 2000,
    connectTimeout: 8000,
    resubscribe: false // subscriptions.js subscribes again on every connect
  })
  let refused = false
  onState('connecting', url)
  client.on('connect', () => onState('connected', `${url} as ${clientId}`))
  client.on('reconnect', () => onState('reconnecting', url))
  client.on('error', err => {
    const reason = CONNACK_REFUSALS[err.code]
    if (reason) {
      refused = true
      client.end(true)
      onState('refused', reason)
    } else {
      onState(client.connected ? 'connected' : 'reconnecting', err.message)
    }
  })
  client.on('close', () => {
    if (refused) return
    if (client.disconnecting || client.disconnected) onState('disconnected', '')
    else onState('reconnecting', `lost the connection to ${url}; retrying every 2 s`)
  })
  client.on('end', () => { if (!refused) onState('disconnected', '') })
  return client
}
