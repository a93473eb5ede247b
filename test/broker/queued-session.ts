// A persistent session with QoS 1 messages queued for it in an embedded data dir, stopped
// cleanly, ready to be damaged: for corrupt-storage.test.ts and the soak's corruption probe.
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { BrokerProcess } from '../helpers/broker.js'
import { connect } from '../helpers/mqtt.js'

/**
 * Subscribes `offline-sub` (CleanSession 0, q/# QoS 1), queues `count` messages "0".."count-1"
 * and a retained r/kept, stops cleanly; `restartAfter` starts and stops once more, which turns
 * the log into a table (.ldb): the cases that damage a table need one.
 */
export async function queueMessages (dataDir: string, restartAfter: boolean, count: number, start: (dataDir: string) => Promise<BrokerProcess>): Promise<void> {
  let broker = await start(dataDir)
  const sub = await connect(broker.mqttUrl, { clientId: 'offline-sub', clean: false })
  await sub.subscribeAsync('q/#', { qos: 1 })
  await sub.endAsync()
  const pub = await connect(broker.mqttUrl, { clientId: 'pub' })
  await pub.publishAsync('r/kept', 'value', { qos: 1, retain: true })
  await Promise.all(Array.from({ length: count }, (_, i) => pub.publishAsync('q/x', String(i), { qos: 1 })))
  await pub.endAsync()
  assert.equal(await broker.stop(), 0)
  if (restartAfter) {
    broker = await start(dataDir)
    assert.equal(await broker.stop(), 0)
  }
}

/** The last file of `dir` ending in `ext` (LevelDB numbers them). */
export function newest (dir: string, ext: string): string {
  const name = readdirSync(dir).filter(f => f.endsWith(ext)).sort().pop()
  assert.ok(name, `a ${ext} file in ${dir}`)
  return join(dir, name)
}
