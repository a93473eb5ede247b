// The terminal wording of the log lines whose subject is in their fields (a client, a topic):
// `connect my-device 127.0.0.1 tcp v5`. Keyed by the JSON line's msg, which stays as it is.
export type LogEntry = Record<string, unknown>

const PROTOCOLS: Record<number, string> = { 3: 'v3.1', 4: 'v3.1.1', 5: 'v5' }

// src/observe.ts's reasons, in words; the others read well with their underscores replaced.
const REASONS: Record<string, string> = {
  client_disconnect: 'client closed',
  connection_lost: 'connection lost',
  connection_reset: 'connection reset'
}

const text = (value: unknown): string => value === undefined || value === null || value === '' ? '-' : String(value)
const reason = (value: unknown): string => REASONS[String(value)] ?? String(value).replaceAll('_', ' ')

const EVENTS: Record<string, (e: LogEntry) => string> = {
  'client connected': e => `connect ${text(e.clientId)} ${text(e.remote)} ${text(e.transport)} ${PROTOCOLS[Number(e.protocol)] ?? `v?${text(e.protocol)}`}` +
    (e.username !== undefined ? ` user ${text(e.username)}` : ''),
  'client disconnected': e => `disconnect ${text(e.clientId)} (${reason(e.reason)})`,
  'connection refused': e => `refused ${text(e.clientId)} ${text(e.remote)} (${text(e.error)})`,
  'connection closed': e => `closed ${text(e.clientId)} ${text(e.remote)} (${reason(e.reason)})`,
  'connection closed on error': e => `closed ${text(e.clientId)} ${text(e.remote)} on error (${text(e.error)})`,
  'slow client disconnected': e => `closed ${text(e.clientId)} ${text(e.remote)}: reads too slowly (${text(e.error)})`,
  'publish denied by ACL': e => `denied publish ${text(e.clientId)} ${text(e.topic)} (ACL)`,
  'subscription denied by ACL': e => `denied subscribe ${text(e.clientId)} ${text(e.filter)} (ACL)`,
  'TLS handshake failed': e => `TLS handshake failed ${text(e.remote)} (${text(e.error)})`,
  'shutting down': e => `shutting down (${text(e.signal)})`
}

// Lines whose words already carry their fields, even as warnings (src/reload-summary.ts).
const SELF_CONTAINED = ['reloaded (']

/** The event's terminal text, or null when the line has no template (its msg is shown). */
export function eventText (entry: LogEntry): string | null {
  const msg = String(entry.msg)
  const template = EVENTS[msg]
  if (template) return template(entry)
  return SELF_CONTAINED.some(prefix => msg.startsWith(prefix)) ? msg : null
}
