// Parent side of the generator processes: fork, send a command, await the reply.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Command, Job, Reply } from './jobs.js'

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url))

export class GenProcess {
  private readonly proc: ChildProcess
  private waiting: Array<{ resolve: (r: Reply) => void, reject: (e: Error) => void }> = []

  constructor (readonly label: string) {
    this.proc = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.proc.on('message', (msg: Reply) => {
      const w = this.waiting.shift()
      if (w === undefined) return
      if (msg.type === 'error') w.reject(new Error(`${label}: ${msg.message}`))
      else w.resolve(msg)
    })
    this.proc.on('exit', code => {
      for (const w of this.waiting) w.reject(new Error(`${label} exited (${String(code)})`))
      this.waiting = []
    })
  }

  /** Sends a command and resolves the process's next reply (or rejects after timeoutMs). */
  ask<T = Reply> (cmd: Command, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label}: no reply to ${cmd.cmd} within ${timeoutMs} ms`)), timeoutMs)
      this.waiting.push({
        resolve: r => { clearTimeout(timer); resolve((r.type === 'result' ? r.result : r) as T) },
        reject: e => { clearTimeout(timer); reject(e) }
      })
      this.proc.send(cmd)
    })
  }

  async setup (job: Job, timeoutMs = 60_000): Promise<void> {
    await this.ask({ cmd: 'setup', job }, timeoutMs)
  }

  close (): void {
    if (this.proc.connected) this.proc.send({ cmd: 'close' })
    const p = this.proc
    setTimeout(() => { if (p.exitCode === null) p.kill('SIGKILL') }, 2000).unref()
  }
}

/** Splits n into parts of at most `max` (e.g. connections per process under the fd limit). */
export function split (n: number, max: number, min = 1): number[] {
  const parts = Math.min(Math.max(1, n), Math.max(min, Math.ceil(n / max)))
  return Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0))
}
