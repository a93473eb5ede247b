// $SYS topics, as Mosquitto publishes them: broker version, uptime, clients, messages,
// subscriptions and heap, retained, every --sys-interval; and this node's shared groups
// (shared.ts).
import { registeredClients } from '../../src/aedes-seam.js'
import type { Plugin } from '../../src/plugin.js'
import { pluginSettings } from '../../src/plugin.js'
import type { Registry } from '../../src/metrics.js'
import { VERSION } from '../../src/version.js'
import { sharedGroupTopics } from './shared.js'

interface SysSettings {
  /** Milliseconds between updates, or null when $SYS is off. */
  interval: number | null
}

async function counterTotal (registry: Registry, name: string): Promise<number> {
  const metric = registry.getSingleMetric(name)
  if (!metric) return 0
  const { values } = await metric.get()
  return values.reduce((sum, v) => sum + v.value, 0)
}

export const sysPlugin: Plugin = {
  name: 'sys',
  options: [
    { key: 'sys.interval', type: 'duration', allowOff: true, min: 100, default: 10_000, help: 'how often $SYS/broker/... topics are published (off disables them)' }
  ],
  async setup ({ config, broker, metrics, log, sharedGroups }) {
    const { interval } = pluginSettings<SysSettings>(config, 'sys')
    if (interval === null) return
    const startedAt = Date.now()
    /** The shared-group topics of the last update: a group's are cleared once it is gone. */
    let sharedTopics = new Set<string>()
    const publish = (topic: string, value: string | number): Promise<void> => new Promise(resolve => {
      broker.publish({ cmd: 'publish', topic: `$SYS/broker/${topic}`, payload: Buffer.from(String(value)), qos: 0, retain: true, dup: false }, () => resolve())
    })
    const update = async (): Promise<void> => {
      let subscriptions = 0
      for (const c of registeredClients(broker)) subscriptions += Object.keys(c.subscriptions).length
      await publish('version', `swallow ${VERSION}`)
      await publish('uptime', `${Math.round((Date.now() - startedAt) / 1000)} seconds`)
      await publish('clients/connected', broker.connectedClients)
      await publish('messages/received', await counterTotal(metrics, 'swallow_messages_received_total'))
      await publish('messages/sent', await counterTotal(metrics, 'swallow_messages_sent_total'))
      await publish('subscriptions/count', subscriptions)
      await publish('heap/current', process.memoryUsage().heapUsed)
      const groups = sharedGroupTopics(sharedGroups())
      for (const [topic, value] of groups) await publish(topic, value)
      for (const topic of sharedTopics) if (!groups.has(topic)) await publish(topic, '')
      sharedTopics = new Set(groups.keys())
    }
    let running: Promise<void> = Promise.resolve()
    const tick = (): void => {
      running = update().catch(err => log.warn({ err }, '$SYS update failed'))
    }
    // The first update waits for the broker to be listening, so the values are real.
    const first = setTimeout(tick, Math.min(interval, 1000))
    const timer = setInterval(tick, interval)
    first.unref()
    timer.unref()
    return {
      async close () {
        clearTimeout(first)
        clearInterval(timer)
        await running
      }
    }
  }
}
