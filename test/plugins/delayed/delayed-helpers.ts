// Shared by the delayed-publish tests: metric values and the admin API of a running broker.
import { waitFor } from '../../helpers/system.js'

/** The value of one sample in /metrics (0 when absent), e.g. metric(url, 'swallow_delayed_refused_total{reason="malformed"}'). */
export async function metric (httpUrl: string, sample: string): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text()
  const line = text.split('\n').find(l => l.startsWith(sample + ' '))
  return line === undefined ? 0 : Number(line.slice(sample.length + 1))
}

export async function waitMetric (httpUrl: string, sample: string, value: number, timeoutMs = 10_000): Promise<void> {
  await waitFor(async () => await metric(httpUrl, sample) === value, timeoutMs, `${sample} = ${value}`)
}

export async function api (url: string, token?: string, method = 'GET'): Promise<{ status: number, body: any }> {
  const res = await fetch(url, { method, headers: token !== undefined ? { authorization: `Bearer ${token}` } : {} })
  return { status: res.status, body: await res.json() }
}
