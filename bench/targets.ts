// The brokers the harness measures. Each is started fresh on a free port for every scenario
// (empty storage, clean memory baseline) and stopped afterwards.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { onBrokerCores, type Placement } from './placement.js'

const SWALLOW_BIN = fileURLToPath(new URL('../../bin/swallow.js', import.meta.url))
const NODE_FLOOR = fileURLToPath(new URL('./node-floor.js', import.meta.url))
const MOSQUITTO = '/usr/sbin/mosquitto'

export interface TargetSpec {
  id: string
  label: string
  kind: 'swallow' | 'mosquitto' | 'node-floor' | 'external' | 'unavailable'
  /** The only scenarios this target can run (absent: all of them). */
  only?: readonly string[]
  storage?: 'embedded' | 'memory' | 'redis'
  /** Broker processes sharing one storage (Redis only); 1 when absent. */
  nodes?: number
  unlimitedQueue?: boolean
  url?: string
  note?: string
}

/** One broker process the clients can connect to. */
export interface BrokerEndpoint {
  host: string
  port: number
  /** Broker pid when the harness started it (for RSS/CPU), null for external targets. */
  pid: number | null
}

export interface RunningTarget {
  /** Every broker process, node A first; a single entry except for multi-node targets. */
  endpoints: BrokerEndpoint[]
  /** The cores the load runs on (bench/placement.ts), for its headroom figure; empty if unknown. */
  loadCores?: number[]
  stop: () => Promise<void>
}

/** What a scenario needs from the brokers beyond the common settings (same file for every target). */
export interface BrokerOptions {
  /** Clients must authenticate against this mosquitto_passwd file (Swallow --password-file, Mosquitto password_file). */
  passwordFile?: string
  /** Extra `swallow start` flags; Mosquitto targets run unchanged. */
  swallowArgs?: string[]
}

/**
 * The same limits for both brokers where both have them: QoS 1/2 messages in flight to one
 * subscriber (Mosquitto max_inflight_messages, default 20; Swallow --max-inflight, default
 * 100), and logging of errors and warnings only (no log line per connect on the hot path).
 * Queues differ by design: Swallow never drops an acknowledged message (its queue blocks the
 * publishers at --max-queued), Mosquitto drops beyond max_queued_messages (1000 by default,
 * unlimited on the baseline target).
 */
export const MAX_INFLIGHT = 100
const SWALLOW_SETTINGS = ['--max-inflight', String(MAX_INFLIGHT), '--log-level', 'warn', '--log-format', 'json',
  '--max-connections', '30000', '--sys-interval', 'off']

function mosquittoSettings (spec: TargetSpec): string[] {
  return ['log_dest stderr', 'log_type error', 'log_type warning', `max_inflight_messages ${MAX_INFLIGHT}`,
    ...(spec.unlimitedQueue === true ? ['max_queued_messages 0'] : [])]
}

/** The effective settings of a target, for the results. */
export function targetSettings (spec: TargetSpec): string {
  switch (spec.kind) {
    case 'swallow': return `swallow start --storage ${spec.storage ?? 'embedded'}${spec.nodes !== undefined ? ` (${spec.nodes} nodes)` : ''} ${SWALLOW_SETTINGS.join(' ')}`
    case 'mosquitto': return `mosquitto.conf: ${mosquittoSettings(spec).join('; ')}`
    case 'node-floor': return 'bench/node-floor.ts (no settings)'
    default: return 'not configured by the harness'
  }
}

/** The id every ratio is computed against: Mosquitto with an unlimited queue. */
export const BASELINE = 'mosquitto-unlimited'

export const BUILTIN_TARGETS: TargetSpec[] = [
  { id: 'swallow-embedded', label: 'Swallow embedded', kind: 'swallow', storage: 'embedded' },
  { id: 'swallow-memory', label: 'Swallow memory', kind: 'swallow', storage: 'memory' },
  { id: 'swallow-redis', label: 'Swallow Redis (1 node)', kind: 'swallow', storage: 'redis' },
  { id: 'swallow-redis-2', label: 'Swallow Redis (2 nodes)', kind: 'swallow', storage: 'redis', nodes: 2 },
  { id: 'mosquitto', label: 'Mosquitto defaults', kind: 'mosquitto' },
  { id: BASELINE, label: 'Mosquitto max_queued_messages 0', kind: 'mosquitto', unlimitedQueue: true },
  // Not a broker: what any MQTT server written in Node pays per connection and per forwarded
  // message (bench/node-floor.ts).
  { id: 'node-floor', label: 'Node floor (no broker)', kind: 'node-floor', only: ['idle-10k', 'idle-max', 'storm-10k', 'latency-1k', 'latency-5k', 'latency-10k'] }
]

export function externalTarget (url: string): TargetSpec {
  return { id: `external-${new URL(url).host}`, label: url, kind: 'external', url }
}

/** Where publishers connect: node A. */
export const publisherEndpoint = (t: RunningTarget): BrokerEndpoint => t.endpoints[0]
/** Where subscribers connect: the last node (node B of a cluster), so every message crosses it. */
export const subscriberEndpoint = (t: RunningTarget): BrokerEndpoint => t.endpoints[t.endpoints.length - 1]
/** Pids of the broker processes the harness started (empty for an external target). */
export const brokerPids = (t: RunningTarget): number[] => t.endpoints.flatMap(e => e.pid === null ? [] : [e.pid])
/** The same target seen as node A alone (for scenarios that cannot spread over nodes). */
export const nodeAOnly = (t: RunningTarget): RunningTarget => ({ ...t, endpoints: t.endpoints.slice(0, 1) })

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(port))
    })
  })
}

async function waitListening (port: number, proc: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`broker exited with code ${proc.exitCode} before listening`)
    const ok = await new Promise<boolean>(resolve => {
      const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true) })
      s.on('error', () => resolve(false))
    })
    if (ok) return
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`broker not listening on ${port} after ${timeoutMs} ms`)
}

function stopper (proc: ChildProcess, dir: string): () => Promise<void> {
  return async () => {
    if (proc.exitCode === null) {
      const exited = new Promise(resolve => proc.once('exit', resolve))
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    rmSync(dir, { recursive: true, force: true })
  }
}

function capture (proc: ChildProcess): string[] {
  const lines: string[] = []
  const keep = (b: Buffer): void => { lines.push(...b.toString().split('\n').filter(Boolean)); lines.splice(0, Math.max(0, lines.length - 20)) }
  proc.stdout?.on('data', keep)
  proc.stderr?.on('data', keep)
  return lines
}

/** A private redis-server for the Redis target (no persistence: it measures the broker, not Redis's disk). */
async function startRedis (placement: Placement): Promise<{ url: string, stop: () => Promise<void> }> {
  const port = await freePort()
  const proc = spawn(...onBrokerCores(placement, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']), { stdio: 'ignore' })
  await waitListening(port, proc, 10_000)
  const dir = mkdtempSync(join(tmpdir(), 'redis-bench-'))
  return { url: `redis://127.0.0.1:${port}/0`, stop: stopper(proc, dir) }
}

function swallowArgs (opts: BrokerOptions): string[] {
  return [...(opts.passwordFile !== undefined ? ['--password-file', opts.passwordFile] : []), ...(opts.swallowArgs ?? [])]
}

/** One Swallow process, or `spec.nodes` of them sharing one private Redis (started one after the other). */
async function startSwallow (spec: TargetSpec, opts: BrokerOptions, placement: Placement): Promise<RunningTarget> {
  const redis = spec.storage === 'redis' ? await startRedis(placement) : null
  const extra = [...(redis ? ['--redis-url', redis.url] : []), ...swallowArgs(opts)]
  const nodes: RunningTarget[] = []
  const stopAll = async (): Promise<void> => {
    for (const n of [...nodes].reverse()) await n.stop()
    await redis?.stop()
  }
  try {
    for (let i = 0; i < (spec.nodes ?? 1); i++) nodes.push(await startSwallowNode(spec, extra, placement))
  } catch (err) { await stopAll(); throw err }
  return { endpoints: nodes.flatMap(n => n.endpoints), stop: stopAll }
}

async function startSwallowNode (spec: TargetSpec, extraArgs: string[], placement: Placement): Promise<RunningTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'swallow-bench-'))
  const port = await freePort()
  // Log level warn: info logs every connect, which Mosquitto is spared too (log_type below).
  const proc = spawn(...onBrokerCores(placement, process.execPath, [SWALLOW_BIN, 'start', '--mqtt-port', String(port), '--ws-port', 'off',
    '--http-port', 'off', '--storage', spec.storage ?? 'embedded', '--data-dir', dir, ...SWALLOW_SETTINGS, ...extraArgs]), { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines = capture(proc)
  try { await waitListening(port, proc, 20_000) } catch (err) {
    await stopper(proc, dir)()
    throw new Error(`${spec.id}: ${(err as Error).message}\n${lines.join('\n')}`)
  }
  return { endpoints: [{ host: '127.0.0.1', port, pid: proc.pid ?? null }], stop: stopper(proc, dir) }
}

async function startMosquitto (spec: TargetSpec, opts: BrokerOptions, placement: Placement): Promise<RunningTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'mosquitto-bench-'))
  const port = await freePort()
  const conf = [
    `listener ${port} 127.0.0.1`,
    ...(opts.passwordFile !== undefined ? [`password_file ${opts.passwordFile}`, 'allow_anonymous false'] : ['allow_anonymous true']),
    ...mosquittoSettings(spec)
  ]
  writeFileSync(join(dir, 'mosquitto.conf'), conf.join('\n') + '\n')
  const proc = spawn(...onBrokerCores(placement, MOSQUITTO, ['-c', join(dir, 'mosquitto.conf')]), { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines = capture(proc)
  try { await waitListening(port, proc, 10_000) } catch (err) {
    await stopper(proc, dir)()
    throw new Error(`${spec.id}: ${(err as Error).message}\n${lines.join('\n')}`)
  }
  return { endpoints: [{ host: '127.0.0.1', port, pid: proc.pid ?? null }], stop: stopper(proc, dir) }
}

/** bench/node-floor.ts: a socket and a parser per connection, CONNACK, nothing else. */
async function startNodeFloor (placement: Placement): Promise<RunningTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'node-floor-'))
  const port = await freePort()
  const proc = spawn(...onBrokerCores(placement, process.execPath, [NODE_FLOOR, String(port)]), { stdio: ['ignore', 'ignore', 'pipe'] })
  const lines = capture(proc)
  try { await waitListening(port, proc, 10_000) } catch (err) {
    await stopper(proc, dir)()
    throw new Error(`node-floor: ${(err as Error).message}\n${lines.join('\n')}`)
  }
  return { endpoints: [{ host: '127.0.0.1', port, pid: proc.pid ?? null }], stop: stopper(proc, dir) }
}

/** Starts a target; `opts` are ignored by external targets (the harness does not configure them). */
export async function startTarget (spec: TargetSpec, opts: BrokerOptions, placement: Placement): Promise<RunningTarget> {
  return { ...await startBroker(spec, opts, placement), loadCores: placement.loadCores }
}

async function startBroker (spec: TargetSpec, opts: BrokerOptions, placement: Placement): Promise<RunningTarget> {
  switch (spec.kind) {
    case 'swallow': {
      // dist/ is shared with whoever is rebuilding the tree: a half-written build makes the
      // broker exit at startup, so try again a few times before calling the scenario failed.
      for (let attempt = 1; ; attempt++) {
        try { return await startSwallow(spec, opts, placement) } catch (err) {
          if (attempt >= 3) throw err
          await new Promise(resolve => setTimeout(resolve, 3000))
        }
      }
    }
    case 'mosquitto': return await startMosquitto(spec, opts, placement)
    case 'node-floor': return await startNodeFloor(placement)
    case 'external': {
      const u = new URL(spec.url ?? '')
      return { endpoints: [{ host: u.hostname, port: Number(u.port || 1883), pid: null }], stop: async () => {} }
    }
    default: throw new Error(`${spec.id}: ${spec.note ?? 'not available'}`)
  }
}
