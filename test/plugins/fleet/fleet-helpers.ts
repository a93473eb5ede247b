// Calls the fleet API of a running broker.
export interface Answer { status: number, body: any }

export async function api (base: string, path: string, token: string | undefined, method = 'GET', body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = token !== undefined ? { authorization: `Bearer ${token}` } : {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}) })
  return { status: res.status, body: await res.json() }
}

/** An API bound to one broker and token. */
export function apiOf (base: string, token: string): (path: string, method?: string, body?: unknown) => Promise<Answer> {
  return (path, method = 'GET', body) => api(base, path, token, method, body)
}
