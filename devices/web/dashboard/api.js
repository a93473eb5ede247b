// The dashboard's calls to the broker: /api with the admin token (kept in sessionStorage,
// asked for again after a 401), /metrics and /healthz without it.

const KEY = 'swallow-admin-token'

export class ApiError extends Error {
  constructor (status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }
}

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: value => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY)
}

let onUnauthorized = () => {}
export function whenUnauthorized (fn) { onUnauthorized = fn }

/** JSON from /api/...; throws ApiError with the API's { error, message }. */
export async function api (path, { method = 'GET', body } = {}) {
  const headers = {}
  const t = token.get()
  if (t) headers.authorization = `Bearer ${t}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const answer = await res.json().catch(() => ({}))
  if (res.status === 401) onUnauthorized()
  if (!res.ok) throw new ApiError(res.status, answer.error ?? 'error', answer.message ?? answer.error ?? `HTTP ${res.status}`)
  return answer
}

/** The sum of every sample of a Prometheus counter in /metrics text. */
export function metricSum (text, name) {
  let sum = 0
  for (const line of text.split('\n')) {
    if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0
  }
  return sum
}

export async function metricsText () {
  const res = await fetch('/metrics')
  return await res.text()
}

export async function health () {
  const res = await fetch('/healthz')
  return await res.json()
}
