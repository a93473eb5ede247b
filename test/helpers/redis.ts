// A private redis-server on a free port for one test (never the machine's shared one).
import { spawn, type ChildProcess } from 'node:child_process'
import { freePort, needBinary, tempDir, waitFor } from './system.js'
import { connect } from 'node:net'

export interface RedisProcess {
  url: string
  port: number
  /** Stops it (SIGTERM) and waits. */
  stop: () => Promise<void>
  /** Starts it again on the same port (after stop or crash). */
  start: () => Promise<void>
  /** SIGKILL, like a crash. */
  crash: () => Promise<void>
}

/** Skip reason (or false) for tests that need redis-server; throws in CI when missing. */
export const needRedis = (): string | false => needBinary('redis-server', 'redis-server')

export async function startRedis (extraArgs: string[] = []): Promise<RedisProcess> {
  const port = await freePort()
  const dir = tempDir('swallow-redis-')
  process.once('exit', () => dir.remove())
  let proc: ChildProcess | null = null
  const launch = async (): Promise<void> => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir.path, '--daemonize', 'no', ...extraArgs], { stdio: 'ignore' })
    await waitFor(() => canConnect(port), 10_000, `redis-server on port ${port}`)
  }
  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const p = proc
    if (!p || p.exitCode !== null || p.signalCode !== null) return
    const exited = new Promise(resolve => p.once('exit', resolve))
    p.kill(signal)
    await exited
  }
  await launch()
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    start: launch,
    stop: () => halt('SIGTERM'),
    crash: () => halt('SIGKILL')
  }
}

function canConnect (port: number): Promise<boolean> {
  return new Promise(resolve => {
    const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}
