// How fast the fleet API lists a big fleet (issue #17: 20,000 clients in under a second,
// paged). Starts one broker (memory storage) or two Redis-storage nodes sharing a private
// redis-server, connects the clients from several load processes (each well under the
// 20,000 open-files limit; one process per node when there are two), then times 10
// sequential answers of each query, asked of the first node:
//   page    GET /api/clients?limit=100&page=N (N: pages spread over the list)
//   default GET /api/clients                  (page 1 of 100)
//   filter  GET /api/clients?prefix=fleet-1234 (10 clients)
// and prints the median and the slowest (the p99 of 10 samples is the slowest).
//
//   node dist/bench/fleet-listing.js [--nodes 1|2] [--clients 19000] [--procs 4]
// Loopback only; bounded (the connects time out after 60 s).
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openMany, type BenchConn } from './conn.js'

const SWALLOW = fileURLToPath(new URL('../../bin/swallow.js', import.meta.url))
const TOKEN = 'bench-fleet'
const id = (i: number): string => `fleet-${String(i).padStart(5, '0')}`

interface Load { port: number, from: number, count: number }

if (process.argv[2] === '--load') holdClients(JSON.parse(process.argv[3]) as Load)
else main().catch(err => { console.error(err); process.exit(1) })

/** A load process: opens its clients, reports how many connected, holds them until killed. */
async function holdClients (load: Load): Promise<void> {
  const conns: BenchConn[] = []
  await openMany(load.count, 100, i => ({ host: '127.0.0.1', port: load.port, clientId: id(load.from + i), keepalive: 600, clean: true, timeoutMs: 30_000 }),
    (_i, conn) => { if (conn !== null) conns.push(conn) }, () => 0)
  process.send?.({ connected: conns.length })
}

async function main (): Promise<void> {
  const flag = (name: string, def: number): number => {
    const at = process.argv.indexOf(`--${name}`)
    return at === -1 ? def : Number(process.argv[at + 1])
  }
  const nodes = flag('nodes', 1)
  const clients = flag('clients', 19_000)
  const procs = Math.max(nodes, flag('procs', 4))
  const children: ChildProcess[] = []
  const dataDir = mkdtempSync(join(tmpdir(), 'swallow-fleet-listing-'))
  try {
    let redisUrl: string | null = null
    if (nodes > 1) {
      const port = await freePort()
      children.push(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }))
      redisUrl = `redis://127.0.0.1:${port}/0`
    }
    const brokers: Array<{ mqtt: number, http: number }> = []
    for (let n = 0; n < nodes; n++) {
      const ports = { mqtt: await freePort(), http: await freePort() }
      children.push(spawn(process.execPath, [SWALLOW, 'start', '--mqtt-port', String(ports.mqtt), '--http-port', String(ports.http), '--ws-port', 'off',
        '--storage', redisUrl === null ? 'memory' : 'redis', ...(redisUrl === null ? [] : ['--redis-url', redisUrl]),
        '--data-dir', join(dataDir, String(n)), '--admin-token', TOKEN, '--max-connections', '30000',
        '--sys-interval', 'off', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] }))
      brokers.push(ports)
    }
    for (const b of brokers) await until(async () => (await fetch(`http://127.0.0.1:${b.http}/healthz`).catch(() => null))?.ok === true, 'a broker')

    const started = performance.now()
    const each = Math.ceil(clients / procs)
    const connected = await Promise.all(Array.from({ length: procs }, (_, p) => new Promise<number>((resolve, reject) => {
      const load: Load = { port: brokers[p % nodes].mqtt, from: p * each, count: Math.min(each, clients - p * each) }
      const child = fork(fileURLToPath(import.meta.url), ['--load', JSON.stringify(load)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      children.push(child)
      child.once('message', m => resolve((m as { connected: number }).connected))
      child.once('exit', code => reject(new Error(`load process exited with ${String(code)}`)))
    })))
    const total = connected.reduce((a, b) => a + b, 0)
    console.log(`${total} of ${clients} clients connected to ${nodes} node(s) from ${procs} processes in ${((performance.now() - started) / 1000).toFixed(1)} s`)

    const api = `http://127.0.0.1:${brokers[0].http}/api/clients`
    const pages = Math.ceil(total / 100)
    const queries: Array<[string, (i: number) => string]> = [
      ['page of 100', i => `${api}?limit=100&page=${1 + Math.floor(i * (pages - 1) / 9)}`],
      ['default page', () => api],
      ['filter (prefix, 10 clients)', () => `${api}?prefix=fleet-1234`]
    ]
    for (const [name, url] of queries) {
      const ms: number[] = []
      for (let i = 0; i < 10; i++) {
        const t = performance.now()
        const res = await fetch(url(i), { headers: { authorization: `Bearer ${TOKEN}` } })
        const body = await res.json() as { total: number }
        ms.push(performance.now() - t)
        if (!res.ok || (i === 0 && name !== 'filter (prefix, 10 clients)' && body.total !== total)) throw new Error(`${name}: HTTP ${res.status}, total ${body.total} (expected ${total})`)
      }
      ms.sort((a, b) => a - b)
      console.log(`${name}: median ${((ms[4] + ms[5]) / 2).toFixed(0)} ms, p99 (slowest of 10) ${ms[9].toFixed(0)} ms, fastest ${ms[0].toFixed(0)} ms`)
    }
  } finally {
    // Load processes first, then the brokers, then Redis; each waited for.
    for (const c of children.reverse()) {
      if (c.exitCode !== null || c.signalCode !== null) continue
      const exited = new Promise(resolve => c.once('exit', resolve))
      c.kill('SIGTERM')
      await exited
    }
    rmSync(dataDir, { recursive: true, force: true })
  }
}

async function until (check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
    s.once('error', reject)
  })
}
