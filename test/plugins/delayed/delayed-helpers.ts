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

/** The bucket bound (seconds) under which fraction `q` of swallow_delayed_lateness_seconds lies. */
export async function latenessQuantile (httpUrl: string, q: number): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text()
  const buckets = [...text.matchAll(/^swallow_delayed_lateness_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)].map(m => ({ le: Number(m[1]), n: Number(m[2]) }))
  const total = buckets[buckets.length - 1]?.n ?? 0
  return buckets.find(b => b.n >= q * total)?.le ?? NaN
}
