// Log bridge benchmark (not part of npm test):
//   node dist/plugins/bridge/bench.js [--seconds 5] [--publishers 10] [--window 50] [--records 1000000]
// 1. QoS 1 throughput and publish latency (p50/p99, send -> PUBACK) against a real broker
//    process, with no bridge rule and with an ack:durable rule on the published topics.
// 2. A consumer catching up: read throughput of the file reader over N records.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import { Log } from './log/log.js'
import { LogReader } from './log/reader.js'

const BIN = fileURLToPath(new URL('../../../bin/swallow.js', import.meta.url))

function arg (name: string, fallback: number): number {
  const i = process.argv.indexOf(name)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}

async function startBroker (dataDir: string, extra: string[]): Promise<{ url: string, proc: ChildProcess }> {
  const proc = spawn(process.execPath, [BIN, 'start', '--mqtt-port', '0', '--ws-port', 'off', '--http-port', 'off', '--data-dir', dataDir,
    '--log-format', 'json', '--log-level', 'info', '--sys-interval', 'off', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] })
  const url = await new Promise<string>((resolve, reject) => {
    let buf = ''
    proc.stdout?.on('data', chunk => {
      buf += String(chunk)
      const m = /"mqtt":"([^"]+)"/.exec(buf)
      if (m) resolve(m[1])
    })
    proc.once('exit', code => reject(new Error(`broker exited with ${code}`)))
  })
  return { url, proc }
}

function percentile (sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
}

async function publishLoad (url: string, seconds: number, publishers: number, window: number): Promise<{ rate: number, p50: number, p99: number }> {
  const clients = await Promise.all(Array.from({ length: publishers }, (_, i) => new Promise<mqtt.MqttClient>((resolve, reject) => {
    const c = mqtt.connect(url, { clientId: `bench-${i}`, reconnectPeriod: 0 })
    c.once('connect', () => resolve(c))
    c.once('error', reject)
  })))
  const latencies: number[] = []
  let stop = false
  let acked = 0
  const payload = Buffer.alloc(200, 'x')
  const start = performance.now()
  await Promise.all(clients.map((client, i) => new Promise<void>(resolve => {
    let inflight = 0
    const send = (): void => {
      while (!stop && inflight < window) {
        inflight++
        const t0 = performance.now()
        client.publish(`sensors/${i}/temp`, payload, { qos: 1 }, () => {
          latencies.push(performance.now() - t0)
          acked++
          inflight--
          if (stop) { if (inflight === 0) resolve() } else send()
        })
      }
    }
    send()
  })).concat([new Promise<void>(resolve => setTimeout(() => { stop = true; resolve() }, seconds * 1000))]))
  const elapsed = (performance.now() - start) / 1000
  for (const c of clients) c.end(true)
  const sorted = Float64Array.from(latencies).sort()
  return { rate: Math.round(acked / elapsed), p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) }
}

async function publishScenario (name: string, extra: string[], seconds: number, publishers: number, window: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'swallow-bench-'))
  const { url, proc } = await startBroker(dir, extra)
  try {
    await publishLoad(url, 1, publishers, window) // warm-up
    const r = await publishLoad(url, seconds, publishers, window)
    console.log(`${name.padEnd(28)} ${String(r.rate).padStart(8)} msg/s   p50 ${r.p50.toFixed(2)} ms   p99 ${r.p99.toFixed(2)} ms`)
  } finally {
    proc.kill('SIGTERM')
    await new Promise(resolve => proc.once('exit', resolve))
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A private redis-server on a free port (never the machine's shared one), or null without one. */
async function privateRedis (): Promise<{ url: string, stop: () => void } | null> {
  const port = 20000 + Math.floor(Math.random() * 20000)
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  const ok = await new Promise<boolean>(resolve => {
    proc.once('error', () => resolve(false))
    setTimeout(() => resolve(proc.exitCode === null), 500)
  })
  return ok ? { url: `redis://127.0.0.1:${port}/0`, stop: () => proc.kill('SIGTERM') } : null
}

async function httpCatchUp (dataDir: string, records: number): Promise<void> {
  const proc = spawn(process.execPath, [BIN, 'start', '--mqtt-port', 'off', '--ws-port', 'off', '--http-port', '0', '--data-dir', dataDir,
    '--log-format', 'json', '--sys-interval', 'off'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const url = await new Promise<string>((resolve, reject) => {
    let buf = ''
    proc.stdout?.on('data', chunk => {
      buf += String(chunk)
      const m = /"http":"([^"]+)"/.exec(buf)
      if (m) resolve(m[1])
    })
    proc.once('exit', code => reject(new Error(`broker exited with ${code}`)))
  })
  try {
    const t0 = performance.now()
    let from = 0
    let n = 0
    while (n < records) {
      const text = await (await fetch(`${url}/api/streams/bench/records?from=${from}&limit=100000`)).text()
      const lines = text.split('\n').filter(Boolean)
      if (lines.length === 0) break
      n += lines.length
      from = (JSON.parse(lines[lines.length - 1]) as { offset: number }).offset + 1
    }
    const s = (performance.now() - t0) / 1000
    console.log(`consumer catching up over HTTP (NDJSON, limit 100000): ${Math.round(n / s)} records/s, ${s.toFixed(2)} s`)
  } finally {
    proc.kill('SIGTERM')
    await new Promise(resolve => proc.once('exit', resolve))
  }
}

async function catchUp (records: number): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'swallow-bench-log-'))
  const dir = join(dataDir, 'log', 'bench')
  const quiet = { warn: () => {}, info: () => {}, error: () => {} }
  const log = await Log.open(dir, 'bench', { segmentBytes: 64 * 1024 * 1024, retentionBytes: 0, retentionMs: null, maxPendingBytes: 1 << 30 }, quiet)
  const payload = Buffer.alloc(200, 'x')
  const input = { topic: 'sensors/1/temp', payload, qos: 1, retain: false, clientId: 'bench-1', username: null }
  const t0 = performance.now()
  for (let i = 0; i < records; i++) {
    log.appendAsync(input, Date.now())
    if (i % 10_000 === 9999) await new Promise(resolve => setImmediate(resolve))
  }
  await log.close()
  const writeS = (performance.now() - t0) / 1000
  const cursor = new LogReader(dir).cursor(0)
  const t1 = performance.now()
  let n = 0
  for (;;) {
    const batch = await cursor.read(5000)
    if (batch.length === 0) break
    n += batch.length
  }
  const readS = (performance.now() - t1) / 1000
  await cursor.close()
  console.log(`append ${records} records (200 B payload, async): ${Math.round(records / writeS)} records/s`)
  console.log(`consumer catching up on ${n} records (file reader): ${Math.round(n / readS)} records/s (${(n * 250 / readS / 1e6).toFixed(0)} MB/s), ${readS.toFixed(2)} s`)
  await httpCatchUp(dataDir, records)
  rmSync(dataDir, { recursive: true, force: true })
}

async function main (): Promise<void> {
  const seconds = arg('--seconds', 5)
  const publishers = arg('--publishers', 10)
  const window = arg('--window', 50)
  console.log(`QoS 1, ${publishers} publishers x ${window} in flight, 200 B payload, ${seconds} s`)
  await publishScenario('no bridge rule', [], seconds, publishers, window)
  await publishScenario('bridge rule, ack:durable', ['--bridge-rule', 'sensors/#=telemetry:durable'], seconds, publishers, window)
  await publishScenario('bridge rule, ack:async', ['--bridge-rule', 'sensors/#=telemetry:async'], seconds, publishers, window)
  const redis = await privateRedis()
  if (redis) {
    try {
      await publishScenario('bridge rule, durable, Redis', ['--bridge-rule', 'sensors/#=telemetry:durable:redis', '--redis-url', redis.url], seconds, publishers, window)
    } finally {
      redis.stop()
    }
  }
  await catchUp(arg('--records', 1_000_000))
}

main().catch(err => {
  console.error(err)
  process.exit(1)
})
