// The subcommands of `swallow ctl`, each one API call (a list: page by page) and its output.
import { count, since, table, text } from './ctl-output.js'
import { durationSeconds, EXIT, option, positiveInt, UsageError, type CtlArgs } from './ctl.js'

type Json = Record<string, any>

class Refused extends Error {
  constructor (readonly exitCode: number, message: string) { super(message) }
}

/** Calls the API; an error answer becomes a Refused with the exit code it means. */
async function call (a: CtlArgs, method: string, path: string, query: Record<string, string | undefined> = {}, body?: unknown): Promise<Json> {
  const url = new URL(a.url + path)
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v)
  const headers: Record<string, string> = a.token !== null ? { authorization: `Bearer ${a.token}` } : {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
  const answer = await res.json().catch(() => ({})) as Json
  if (res.ok) return answer
  const message = String(answer.message ?? answer.error ?? `HTTP ${res.status}`)
  const hint = res.status === 401 ? ' (pass --token or set SWALLOW_TOKEN)' : ''
  const code = res.status === 404 ? EXIT.notFound : res.status === 401 || res.status === 403 ? EXIT.refused : res.status === 409 ? EXIT.conflict : res.status === 400 || res.status === 413 ? EXIT.usage : EXIT.failed
  throw new Refused(code, message + hint)
}

export async function runCommand (a: CtlArgs): Promise<number> {
  try {
    return await dispatch(a)
  } catch (err) {
    if (!(err instanceof Refused)) throw err
    process.stderr.write(`swallow ctl: ${err.message}\n`)
    return err.exitCode
  }
}

function dispatch (a: CtlArgs): Promise<number> {
  const [group, verb] = a.words
  const key = `${group ?? ''} ${verb ?? ''}`.trim()
  switch (group === 'subscriptions' || group === 'publish' || group === 'reload' ? group : key) {
    case 'clients list': return clientsList(a)
    case 'clients show': return clientsShow(a)
    case 'clients kick': return clientsKick(a)
    case 'sessions list': return sessionsList(a)
    case 'sessions delete': return sessionsDelete(a)
    case 'subscriptions': return subscriptions(a)
    case 'bans list': return bansList(a)
    case 'bans add': return bansAdd(a)
    case 'bans remove': return bansRemove(a)
    case 'publish': return publish(a)
    case 'reload': return reload(a)
    default: throw new UsageError(`unknown command ${JSON.stringify(a.words.join(' '))}`)
  }
}

function words (a: CtlArgs, n: number, what: string): string[] {
  const rest = a.words.slice(a.words[0] === 'subscriptions' || a.words[0] === 'publish' || a.words[0] === 'reload' ? 1 : 2)
  if (rest.length !== n) throw new UsageError(`${a.words.slice(0, 2).join(' ')} takes ${what}`)
  return rest
}

/** Every page of a list (up to --limit items), printed as it comes. */
async function listPages (a: CtlArgs, path: string, query: Record<string, string | undefined>, print: (items: Json[]) => void): Promise<number> {
  let left = positiveInt(a, 'limit') ?? Infinity
  for (let page = 1, pages = 1; page <= pages && left > 0; page++) {
    const answer = await call(a, 'GET', path, { ...query, limit: String(Math.min(1000, left)), page: String(page) })
    pages = answer.pages
    const items = answer.items as Json[]
    left -= items.length
    if (a.json) { if (items.length > 0) process.stdout.write(items.map(i => JSON.stringify(i)).join('\n') + '\n') } else print(items)
  }
  return EXIT.ok
}

async function clientsList (a: CtlArgs): Promise<number> {
  words(a, 0, 'no arguments (filters are options)')
  const query = { prefix: option(a, 'prefix'), username: option(a, 'username'), address: option(a, 'address'), protocol: option(a, 'protocol'), node: option(a, 'node'), state: option(a, 'state') }
  let header = true
  return await listPages(a, '/api/clients', query, items => {
    const rows = items.map(c => c.connected
      ? [c.clientId, text(c.username), c.remoteAddress, `${c.transport}/${c.protocolVersion}`, since(c.connectedAt), String(c.subscriptions), String(c.inflight), String(c.queued), count(c.messagesIn), count(c.messagesOut), String(c.node).slice(0, 8)]
      : [c.clientId, '-', '-', 'offline', '-', String(c.subscriptions), '-', String(c.queued), '-', '-', '-'])
    if (rows.length === 0 && !header) return
    const out = table(['CLIENT ID', 'USER', 'ADDRESS', 'PROTO', 'UP', 'SUBS', 'INFLIGHT', 'QUEUED', 'MSG IN', 'MSG OUT', 'NODE'], rows)
    process.stdout.write(header ? out : out.slice(out.indexOf('\n') + 1))
    header = false
  })
}

async function clientsShow (a: CtlArgs): Promise<number> {
  const [id] = words(a, 1, 'one client ID')
  const c = await call(a, 'GET', `/api/clients/${encodeURIComponent(id)}`)
  if (a.json) {
    process.stdout.write(JSON.stringify(c) + '\n')
    return EXIT.ok
  }
  const fields: Array<[string, unknown]> = c.connected
    ? [['client id', c.clientId], ['connected', `yes, since ${c.connectedAt} (${since(c.connectedAt)}) on node ${c.node}`], ['user', text(c.username)], ['address', `${c.remoteAddress} (${c.transport})`],
        ['protocol', c.protocolVersion === 5 ? 'MQTT 5' : c.protocolVersion === 4 ? 'MQTT 3.1.1' : 'MQTT 3.1'], ['keep alive', `${c.keepalive}s`],
        ['session', c.persistent ? `persistent, expiry ${c.sessionExpiry === 4294967295 ? 'never' : `${c.sessionExpiry}s`}` : 'clean'],
        ['in flight / queued', `${c.inflight} / ${c.queued}${c.storedQueue !== null ? ` (stored queue ${c.storedQueue})` : ''}`],
        ['oldest queued', c.oldestQueuedAt == null ? '-' : `${c.oldestQueuedAt} (${since(c.oldestQueuedAt)})`],
        ['messages in / out', `${c.messagesIn} / ${c.messagesOut}`], ['bytes in / out', `${c.bytesIn} / ${c.bytesOut}`],
        ['will', c.will === null ? '-' : `${c.will.topic} (QoS ${c.will.qos}${c.will.retain ? ', retained' : ''}${c.will.delay > 0 ? `, delay ${c.will.delay}s` : ''}, ${c.will.payloadBytes} bytes)`]]
    : [['client id', c.clientId], ['connected', c.disconnectedAt == null ? 'no (stored session)' : `no, offline since ${c.disconnectedAt} (${since(c.disconnectedAt)})`], ['expires', text(c.expiresAt)],
        ['queued', c.queued], ['oldest queued', c.oldestQueuedAt == null ? '-' : `${c.oldestQueuedAt} (${since(c.oldestQueuedAt)})`]]
  process.stdout.write(fields.map(([k, v]) => `${k.padEnd(19)} ${String(v)}`).join('\n') + '\n')
  const subs = (c.subscriptionList as Json[]).map(s => [s.filter, String(s.qos), [s.noLocal === true ? 'nl' : '', s.retainAsPublished === true ? 'rap' : '', s.retainHandling ? `rh${s.retainHandling}` : '', s.identifier !== undefined ? `id ${s.identifier}` : ''].filter(Boolean).join(' ') || '-'])
  process.stdout.write(subs.length === 0 ? 'no subscriptions\n' : '\n' + table(['FILTER', 'QOS', 'OPTIONS'], subs))
  return EXIT.ok
}

async function clientsKick (a: CtlArgs): Promise<number> {
  const ids = a.words.slice(2)
  const session = a.flags.has('session') ? 'true' : undefined
  const selector = { prefix: option(a, 'prefix'), username: option(a, 'username'), address: option(a, 'address') }
  const bulk = Object.values(selector).some(v => v !== undefined)
  if (ids.length > 1 || (ids.length === 1) === bulk) throw new UsageError('clients kick takes one client ID, or --prefix, --username or --address')
  const answer = bulk
    ? await call(a, 'DELETE', '/api/clients', { ...selector, session })
    : await call(a, 'DELETE', `/api/clients/${encodeURIComponent(ids[0])}`, { session })
  if (a.json) process.stdout.write(JSON.stringify(answer) + '\n')
  else process.stdout.write(`kicked ${answer.kicked} client(s)${answer.sessionDeleted === true ? ', sessions deleted' : ''}\n`)
  return answer.kicked > 0 ? EXIT.ok : EXIT.notFound
}

async function sessionsList (a: CtlArgs): Promise<number> {
  words(a, 0, 'no arguments')
  let header = true
  return await listPages(a, '/api/sessions', { prefix: option(a, 'prefix') }, items => {
    const out = table(['CLIENT ID', 'OFFLINE', 'EXPIRES', 'SUBS', 'QUEUED', 'OLDEST'], items.map(s => [s.clientId, since(s.disconnectedAt), s.expiresAt ?? 'never', String(s.subscriptions), String(s.queued), since(s.oldestQueuedAt)]))
    process.stdout.write(header ? out : out.slice(out.indexOf('\n') + 1))
    header = false
  })
}

async function sessionsDelete (a: CtlArgs): Promise<number> {
  const [id] = words(a, 1, 'one client ID')
  const answer = await call(a, 'DELETE', `/api/sessions/${encodeURIComponent(id)}`)
  process.stdout.write(a.json ? JSON.stringify(answer) + '\n' : `deleted the session of ${id}\n`)
  return EXIT.ok
}

async function subscriptions (a: CtlArgs): Promise<number> {
  words(a, 0, 'no arguments (--filter, --topic, --client)')
  let header = true
  return await listPages(a, '/api/subscriptions', { filter: option(a, 'filter'), topic: option(a, 'topic'), clientId: option(a, 'client') }, items => {
    const out = table(['FILTER', 'QOS', 'CLIENT ID', 'CONNECTED'], items.map(s => [s.filter, String(s.qos), s.clientId, s.connected ? 'yes' : 'no']))
    process.stdout.write(header ? out : out.slice(out.indexOf('\n') + 1))
    header = false
  })
}

async function bansList (a: CtlArgs): Promise<number> {
  words(a, 0, 'no arguments')
  const { items } = await call(a, 'GET', '/api/bans') as { items: Json[] }
  if (a.json) { if (items.length > 0) process.stdout.write(items.map(b => JSON.stringify(b)).join('\n') + '\n') } else process.stdout.write(table(['KIND', 'VALUE', 'EXPIRES', 'REASON', 'BY'], items.map(b => [b.kind, b.value, b.expiresAt ?? 'never', text(b.reason), b.by])))
  return EXIT.ok
}

async function bansAdd (a: CtlArgs): Promise<number> {
  const [kind, value] = words(a, 2, 'KIND (clientId, username or address) and VALUE')
  const expires = option(a, 'expires')
  const reason = option(a, 'reason')
  const answer = await call(a, 'POST', '/api/bans', {}, { kind, value, ...(reason !== undefined ? { reason } : {}), ...(expires !== undefined ? { expiresIn: durationSeconds(expires) } : {}) })
  process.stdout.write(a.json ? JSON.stringify(answer) + '\n' : `banned ${kind} ${value}${answer.expiresAt !== null ? ` until ${answer.expiresAt}` : ''}; kicked ${answer.kicked} client(s)\n`)
  return EXIT.ok
}

async function bansRemove (a: CtlArgs): Promise<number> {
  const [kind, value] = words(a, 2, 'KIND and VALUE')
  const answer = await call(a, 'DELETE', `/api/bans/${encodeURIComponent(kind)}/${encodeURIComponent(value)}`)
  process.stdout.write(a.json ? JSON.stringify(answer) + '\n' : `removed the ban on ${kind} ${value}\n`)
  return EXIT.ok
}

async function publish (a: CtlArgs): Promise<number> {
  const rest = a.words.slice(1)
  if (rest.length < 1 || rest.length > 2) throw new UsageError('publish takes TOPIC and an optional PAYLOAD')
  const [topic, payload = ''] = rest
  const qosText = option(a, 'qos') ?? '0'
  if (!['0', '1', '2'].includes(qosText)) throw new UsageError(`--qos: expected 0, 1 or 2, got ${JSON.stringify(qosText)}`)
  const userProperties: Record<string, string> = {}
  for (const kv of a.options.get('user-property') ?? []) {
    const eq = kv.indexOf('=')
    if (eq < 1) throw new UsageError(`--user-property: expected key=value, got ${JSON.stringify(kv)}`)
    userProperties[kv.slice(0, eq)] = kv.slice(eq + 1)
  }
  const body = {
    topic,
    ...(a.flags.has('base64') ? { payloadBase64: payload } : { payload }),
    qos: Number(qosText),
    retain: a.flags.has('retain'),
    ...(Object.keys(userProperties).length > 0 ? { properties: { userProperties } } : {})
  }
  const as = { username: option(a, 'as-user'), clientId: option(a, 'as-client') }
  const answer = await call(a, 'POST', '/api/publish', {}, as.username !== undefined || as.clientId !== undefined ? { ...body, as } : body)
  process.stdout.write(a.json ? JSON.stringify(answer) + '\n' : `published ${answer.bytes} bytes to ${answer.topic} (QoS ${answer.qos}${answer.retain ? ', retained' : ''})\n`)
  return EXIT.ok
}

async function reload (a: CtlArgs): Promise<number> {
  words(a, 0, 'no arguments')
  const answer = await call(a, 'POST', '/api/reload')
  process.stdout.write(a.json ? JSON.stringify(answer) + '\n' : answer.summary + '\n')
  return answer.ok === true ? EXIT.ok : EXIT.failed
}
