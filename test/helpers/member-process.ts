// Spawns member-child.js (a QoS 1 MQTT.js subscriber in its own OS process) and collects what
// it printed: what it received, in order. A test can end it cleanly or kill -9 it.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { MemberArgs } from './member-child.js'
import type { Received } from './mqtt.js'

const CHILD = fileURLToPath(new URL('./member-child.js', import.meta.url))

export interface MemberProcess {
  /** Every message it printed (received and about to be acknowledged), in order. */
  got: Array<Pick<Received, 'topic' | 'payload'>>
  /** Resolves once its SUBACK arrived. */
  ready: Promise<void>
  /** Resolves once a deferred member's process is loaded and waits for join(). */
  loaded: Promise<void>
  /** A deferred member connects and subscribes now; resolves at its SUBACK. */
  join: () => Promise<void>
  /** Sends DISCONNECT (MQTT.js end()) and waits for the process to exit. */
  leave: () => Promise<void>
  /** kill -9; resolves once its output is read to the end (every line printed before the kill). */
  kill: () => Promise<void>
}

// Members still running when the test process exits are killed with it.
const running = new Set<ReturnType<typeof spawn>>()
process.once('exit', () => { for (const proc of running) proc.kill('SIGKILL') })

export function spawnMember (args: MemberArgs): MemberProcess {
  const proc = spawn(process.execPath, [CHILD, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'pipe'] })
  running.add(proc)
  const got: MemberProcess['got'] = []
  let stderr = ''
  proc.stderr.on('data', d => { stderr += String(d) })
  // 'close': stdout read to its end, after the exit.
  const closed = new Promise<void>(resolve => proc.once('close', () => { running.delete(proc); resolve() }))
  let onLoaded = (): void => {}
  const loaded = new Promise<void>(resolve => { onLoaded = resolve })
  const ready = new Promise<void>((resolve, reject) => {
    let buffered = ''
    proc.stdout.on('data', chunk => {
      buffered += String(chunk)
      let nl
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = JSON.parse(buffered.slice(0, nl)) as { ready?: true, loaded?: true, t: string, p: string }
        buffered = buffered.slice(nl + 1)
        if (line.loaded) onLoaded()
        else if (line.ready) resolve()
        else got.push({ topic: line.t, payload: line.p })
      }
    })
    void closed.then(() => reject(new Error(`member ${args.clientId} exited before SUBACK: ${stderr}`)))
  })
  ready.catch(() => {})
  return {
    got,
    ready,
    loaded,
    join: async () => {
      proc.stdin.write('connect\n')
      await ready
    },
    leave: async () => {
      proc.stdin.write('end\n')
      await closed
    },
    kill: async () => {
      proc.kill('SIGKILL')
      await closed
    }
  }
}
