// Retained-store benchmark: time for a `#` subscriber to receive N retained messages, the
// broker's peak memory, and a QoS 1 round trip's latency on another client meanwhile.
//   npm run build && node dist/plugins/retained/bench.js [N ...] [--storage embedded|redis --redis-url URL] [--payload BYTES] [--sub-qos 0|1] [--profile DIR] [--node-arg FLAG]...
// The store is filled directly through the backend (fast), then a real broker is started on it.
import { readFileSync } from 'node:fs'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import pino from 'pino'
import { WriteHealth } from '../../src/write-health.js'
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { RetainedBackend, RetainedMeta } from './backend.js'
import { LevelBackend } from './level-backend.js'
import { RedisBackend } from './redis-backend.js'

interface Result { n: number, rssAtQuarters: number[], loadMs: number, deliverMs: number, rate: number, rssBeforeMiB: number, peakRssMiB: number, latency: { p50: number, p99: number, max: number, samples: number } }

const NOOP_SINK = { put () {}, del () {}, get: () => undefined, clear () {} }

async function fill (backend: RetainedBackend, n: number, payload: Buffer): Promise<void> {
  await backend.open(NOOP_SINK)
  const meta: RetainedMeta = { qos: 1, storedAt: Date.now(), size: payload.length, seq: 0 }
  for (let i = 0; i < n; i += 5000) {
    const ops = []
    for (let j = i; j < Math.min(n, i + 5000); j++) ops.push({ type: 'put' as const, topic: `fleet/site${j % 100}/dev${j}/status`, meta, payload })
    await backend.write(ops)
  }
  await backend.close()
}

function kib (pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : 0
}

async function once (n: number, storage: string, redisUrl: string | null, payloadBytes: number): Promise<Result> {
  const dataDir = mkdtempSync(join(tmpdir(), 'swallow-retained-bench-'))
  try {
    const prefix = `bench${Date.now()}:`
    const backend = redisUrl !== null
      ? new RedisBackend(redisUrl, pino({ level: 'silent' }), `swallow:retained:`)
      : new LevelBackend(join(dataDir, 'retained'), dataDir, pino({ level: 'silent' }), new WriteHealth(pino({ level: 'silent' }), () => {}))
    void prefix
    await fill(backend, n, Buffer.alloc(payloadBytes, 120))
    const args = ['--sys-interval', 'off', ...(redisUrl !== null ? ['--storage', 'redis', '--redis-url', redisUrl] : [])]
    const loadStart = Date.now()
    const broker = await spawnBroker(dataDir, args)
    const loadMs = Date.now() - loadStart
    const pid = broker.proc.pid as number
    const rssBeforeMiB = kib(pid, 'VmRSS')

    // A QoS 1 round trip on an unrelated topic every 20 ms while the stream runs.
    const pinger = await mqttConnect(broker.mqttUrl)
    await pinger.subscribeAsync('$bench/ping', { qos: 1 }) // a $ topic: not matched by the '#' subscriber
    const latencies: number[] = []
    let sentAt = 0
    pinger.on('message', () => latencies.push(performance.now() - sentAt))
    let pinging = true
    const pingLoop = (async () => {
      while (pinging) {
        sentAt = performance.now()
        await pinger.publishAsync('$bench/ping', 'p', { qos: 1 })
        await new Promise(resolve => setTimeout(resolve, 20))
      }
    })()

    const sub = await mqttConnect(broker.mqttUrl)
    let received = 0
    const start = performance.now()
    // RSS at 25/50/75% delivered: flat when the stream's memory is bounded.
    const rssAtQuarters: number[] = []
    const done = new Promise<void>((resolve, reject) => sub.on('message', () => {
      if (++received % Math.ceil(n / 4) === 0 && received < n) rssAtQuarters.push(Math.round(kib(pid, 'VmRSS')))
      if (received === n) resolve()
    }).once('close', () => reject(new Error(`the subscriber was disconnected after ${received} of ${n} messages`))))
    await sub.subscribeAsync('#', { qos: subQos })
    await done
    const deliverMs = performance.now() - start
    pinging = false
    await pingLoop
    const peakRssMiB = kib(pid, 'VmHWM')
    await sub.endAsync()
    await pinger.endAsync()
    broker.proc.kill('SIGTERM')
    await new Promise(resolve => broker.proc.once('exit', resolve))
    latencies.sort((a, b) => a - b)
    const pct = (p: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0) * 10) / 10
    return {
      n, rssAtQuarters, loadMs, deliverMs: Math.round(deliverMs), rate: Math.round(n / (deliverMs / 1000)),
      rssBeforeMiB: Math.round(rssBeforeMiB), peakRssMiB: Math.round(peakRssMiB),
      latency: { p50: pct(0.5), p99: pct(0.99), max: pct(1), samples: latencies.length }
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
}

/** Extra node flags for the broker (--profile DIR adds a CPU profile). */
const nodeArgs: string[] = []
/** QoS of the `#` subscription (--sub-qos); retained messages are stored at QoS 1. */
let subQos: 0 | 1 = 1

/** Like test/helpers/broker.ts, with room for loading a million retained messages at start. */
async function spawnBroker (dataDir: string, args: string[]): Promise<{ proc: ChildProcess, mqttUrl: string }> {
  const bin = fileURLToPath(new URL('../../../bin/swallow.js', import.meta.url))
  const proc = spawn(process.execPath, [...nodeArgs, bin, 'start', '--mqtt-port', '0', '--ws-port', 'off', '--http-port', '0', '--data-dir', dataDir,
    '--log-format', 'json', ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  // --trace-gc and similar print plain lines on stdout: only JSON lines are log lines.
  const mqttUrl = await new Promise<string>((resolve, reject) => {
    let buffered = ''
    proc.stdout?.on('data', chunk => {
      buffered += String(chunk)
      for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        if (!line.startsWith('{')) {
          if (nodeArgs.length > 0) console.error(`  broker: ${line}`)
          continue
        }
        const entry = JSON.parse(line) as { listeners?: { mqtt: string }, level?: number, msg?: string }
        if (entry.listeners !== undefined) resolve(entry.listeners.mqtt)
        if ((entry.level ?? 0) >= 40) console.error(`  broker: ${line}`)
      }
    })
    proc.once('exit', code => reject(new Error(`broker exited with ${code}`)))
  })
  return { proc, mqttUrl }
}

async function mqttConnect (url: string): Promise<mqtt.MqttClient> {
  return await mqtt.connectAsync(url, { reconnectPeriod: 0 })
}

async function main (): Promise<void> {
  const argv = process.argv.slice(2)
  const opt = (name: string): string | null => { const i = argv.indexOf(name); return i === -1 ? null : argv.splice(i, 2)[1] }
  const storage = opt('--storage') ?? 'embedded'
  const redisUrl = storage === 'redis' ? opt('--redis-url') ?? 'redis://127.0.0.1:6380/0' : null
  const payload = Number(opt('--payload') ?? 64)
  subQos = opt('--sub-qos') === '0' ? 0 : 1
  const profile = opt('--profile')
  if (profile !== null) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', profile)
  for (let flag = opt('--node-arg'); flag !== null; flag = opt('--node-arg')) nodeArgs.push(flag)
  const sizes = argv.length > 0 ? argv.map(Number) : [10_000, 100_000, 1_000_000]
  console.log(`retained '#' delivery, ${storage} storage, ${payload}-byte payloads, QoS ${subQos} subscriber (MQTT.js) on the same machine`)
  for (const n of sizes) {
    const r = await once(n, storage, redisUrl, payload)
    console.log(`${String(n).padStart(9)} retained: broker start ${r.loadMs} ms, delivered in ${r.deliverMs} ms (${r.rate}/s); ` +
      `broker RSS after start ${r.rssBeforeMiB} MiB, at 25/50/75% ${r.rssAtQuarters.join('/')} MiB, peak ${r.peakRssMiB} MiB; QoS 1 round trip meanwhile p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, max ${r.latency.max} ms (${r.latency.samples} samples)`)
  }
}

main().catch(err => {
  console.error(err)
  process.exit(1)
})
