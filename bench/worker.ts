// Entry point of one generator process (forked by the harness). Takes one job over IPC:
// setup -> 'ready', start -> 'result', then finish/storm/close as the scenario needs.
import { Publisher } from './roles/publisher.js'
import { Subscriber } from './roles/subscriber.js'
import { IdleDevices } from './roles/idle.js'
import type { Command, Reply } from './jobs.js'

let role: Publisher | Subscriber | IdleDevices | null = null

function reply (msg: Reply): void {
  process.send?.(msg)
}

async function handle (msg: Command): Promise<void> {
  switch (msg.cmd) {
    case 'setup': {
      const { job } = msg
      role = job.role === 'publish' ? new Publisher(job) : job.role === 'subscribe' ? new Subscriber(job) : new IdleDevices(job)
      if (!(role instanceof IdleDevices)) await role.setup()
      return reply({ type: 'ready' })
    }
    case 'start':
      if (role instanceof Publisher) return reply({ type: 'result', result: await role.run() })
      if (role instanceof IdleDevices) return reply({ type: 'result', result: await role.connectAll() })
      return
    case 'finish':
      if (role instanceof Subscriber) return reply({ type: 'result', result: await role.finish(msg.expected, msg.expectedTotal) })
      return
    case 'storm':
      if (role instanceof IdleDevices) return reply({ type: 'result', result: await role.storm() })
      return
    case 'reconnect':
      if (role instanceof IdleDevices) return reply({ type: 'result', result: await role.reconnect(msg.settleMs) })
      return
    case 'close':
      role?.close()
      setTimeout(() => process.exit(0), 200)
  }
}

process.on('message', (msg: Command) => {
  handle(msg).catch((err: unknown) => reply({ type: 'error', message: err instanceof Error ? err.message : String(err) }))
})
process.on('disconnect', () => process.exit(0))
