// Spawns a real Swallow process (the built CLI) on free ports and reads its startup line.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { run, tempDir, type RunResult } from './system.js'

export const SWALLOW_BIN = fileURLToPath(new URL('../../../bin/swallow.js', import.meta.url))

export interface BrokerProcess {
  proc: ChildProcess
  mqttUrl: string
  mqttPort: number
  wsUrl: string
  httpUrl: string
  dataDir: string
  /** Every log line so far (JSON objects). */
  logs: Array<Record<string, unknown>>
  /** Sends a signal and waits for the exit; resolves the exit code. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>
  /** kill -9, then waits for the process to be gone. */
  crash: () => Promise<void>
}

export interface BrokerOptions {
  /** Extra `swallow start` arguments. */
  args?: string[]
  env?: Record<string, string>
  /** Reuse a data dir (for restart tests); a fresh temp dir otherwise. */
  dataDir?: string
  storage?: 'embedded' | 'memory' | 'redis'
  /** With storage 'redis'. */
  redisUrl?: string
}

// Brokers still running when the test process exits (a test that failed or timed out before its
// finally block) are killed with it, so that they do not stay behind and load the machine.
const running = new Set<ChildProcess>()
process.once('exit', () => { for (const proc of running) proc.kill('SIGKILL') })

/** Starts `swallow start` with every listener on port 0 (free ports) unless args say otherwise. */
export async function startBroker (opts: BrokerOptions = {}): Promise<BrokerProcess> {
  const dataDir = opts.dataDir ?? tempDir().path
  const args = ['start', '--mqtt-port', '0', '--ws-port', '0', '--http-port', '0', '--data-dir', dataDir,
    '--log-format', 'json', '--storage', opts.storage ?? 'embedded', ...(opts.redisUrl ? ['--redis-url', opts.redisUrl] : []), ...(opts.args ?? [])]
  const proc = spawn(process.execPath, [SWALLOW_BIN, ...args], {
    env: { ...withoutSwallowEnv(process.env), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  running.add(proc)
  proc.once('exit', () => running.delete(proc))
  const logs: Array<Record<string, unknown>> = []
  let stderr = ''
  proc.stderr?.on('data', d => { stderr += String(d) })
  const exited = new Promise<number | null>(resolve => proc.once('exit', code => resolve(code)))
  const ready = new Promise<Record<string, string>>((resolve, reject) => {
    let buffered = ''
    proc.stdout?.on('data', chunk => {
      buffered += String(chunk)
      let nl
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        try {
          const entry = JSON.parse(line) as Record<string, unknown>
          logs.push(entry)
          if (entry.listeners) resolve(entry.listeners as Record<string, string>)
        } catch {
          logs.push({ msg: line })
        }
      }
    })
    exited.then(code => reject(new Error(`broker exited with ${code} before it was ready: ${stderr}`)))
  })
  const timeout = setTimeout(() => proc.kill('SIGKILL'), 15_000)
  const listeners = await ready.finally(() => clearTimeout(timeout))
  const mqttUrl = listeners.mqtt ?? ''
  return {
    proc,
    mqttUrl,
    mqttPort: mqttUrl ? Number(new URL(mqttUrl).port) : 0,
    wsUrl: listeners.ws ?? '',
    httpUrl: listeners.http ?? '',
    dataDir,
    logs,
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode
      proc.kill(signal)
      return await exited
    },
    crash: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      proc.kill('SIGKILL')
      await exited
    }
  }
}

/** Runs the CLI to completion (for config errors, --help, ...). */
export function runCli (args: string[], env: Record<string, string> = {}, timeoutMs = 15_000): Promise<RunResult> {
  return run(process.execPath, [SWALLOW_BIN, ...args], timeoutMs, { ...withoutSwallowEnv(process.env), ...env })
}

function withoutSwallowEnv (env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(env)) if (!k.startsWith('SWALLOW_') && v !== undefined) out[k] = v
  return out
}
