// System binaries the tests need. Outside CI a missing one skips the test with a loud
// line saying what to install; in CI (CI=true) it is a failure.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const found = new Map<string, boolean>()

export function hasBinary (name: string): boolean {
  if (!found.has(name)) found.set(name, spawnSync('sh', ['-c', `command -v ${name}`]).status === 0)
  return found.get(name) as boolean
}

/**
 * Returns a skip reason when `binary` is missing (outside CI), throws in CI.
 * Use as: test('...', { skip: needBinary('mosquitto_pub', 'mosquitto-clients') }, ...)
 */
export function needBinary (binary: string, debianPackage: string): string | false {
  if (hasBinary(binary)) return false
  const message = `${binary} not found: install it with "apt-get install -y ${debianPackage}"`
  if (process.env.CI === 'true') throw new Error(`CI: ${message}`)
  process.stderr.write(`\n*** SKIPPING: ${message} ***\n\n`)
  return message
}

export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir (prefix = 'swallow-test-'): { path: string, remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Polls until `check` returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T> (check: () => T | Promise<T>, timeoutMs = 5000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(25)
  }
}

export interface RunResult { code: number | null, stdout: string, stderr: string }

/** Runs a command to completion (killed after `timeoutMs`), collecting its output. */
export function run (cmd: string, args: string[], timeoutMs = 10_000, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise(resolve => {
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env })
    let stdout = ''
    let stderr = ''
    proc.stdout.on('data', d => { stdout += String(d) })
    proc.stderr.on('data', d => { stderr += String(d) })
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs)
    // 'close', not 'exit': the output pipes may still hold data when the process has exited.
    proc.once('close', code => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
