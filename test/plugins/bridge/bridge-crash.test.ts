// kill -9 of the broker during a sustained QoS 1 stream with ack:durable and with ack:written:
// after the restart every message whose PUBACK the publisher received is in the log exactly
// once, in order (written: the OS had the record before the PUBACK, so a process crash cannot
// lose it; a power loss could, which no test here simulates).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { openLog } from '../../../plugins/bridge/log/index.js'
import { startBroker } from '../../helpers/broker.js'
import { connect } from '../../helpers/mqtt.js'
import { waitFor } from '../../helpers/system.js'

for (const ack of ['durable', 'written']) {
  test(`ack:${ack}: after kill -9, every PUBACKed message is in the log exactly once and in order`, () => crashDuringStream(ack))
}

async function crashDuringStream (ack: string): Promise<void> {
  const ARGS = ['--bridge-rule', `sensors/#=telemetry:${ack}`, '--sys-interval', 'off', '--bridge-segment-size', '64KiB']
  let broker = await startBroker({ args: ARGS })
  const acked: number[] = []
  let sent = 0
  const publishers = await Promise.all([0, 1, 2].map(p => connect(broker.mqttUrl, { clientId: `pub-${p}` })))
  const window = 32
  let crashed = false
  // Three publishers, each with up to `window` QoS 1 messages in flight, until the crash.
  const lanes = publishers.map((client, p) => (async () => {
    const inflight = new Set<Promise<void>>()
    while (!crashed) {
      const seq = sent++
      const payload = JSON.stringify({ p, seq, pad: 'x'.repeat(100) })
      const done: Promise<void> = client.publishAsync(`sensors/${p}`, payload, { qos: 1 }).then(() => { acked.push(seq) }, () => {})
        .finally(() => inflight.delete(done))
      inflight.add(done)
      if (inflight.size >= window) await Promise.race(inflight)
    }
  })())
  // Crash in the middle of a sustained stream: after a good number of acknowledgements.
  await waitFor(() => acked.length >= 500, 60_000, '500 acknowledged messages')
  const ackedBeforeCrash = acked.length
  await broker.crash()
  crashed = true
  const ackedAtCrash = new Set(acked)
  // Publishes in flight at the crash never settle: do not wait for them.
  for (const c of publishers) c.end(true)
  void lanes
  assert.ok(ackedBeforeCrash > 200, `only ${ackedBeforeCrash} messages acknowledged before the crash`)

  broker = await startBroker({ args: ARGS, dataDir: broker.dataDir })
  try {
    const log = openLog(broker.dataDir)
    const seen = new Map<number, number>()
    const lastPerPublisher = [-1, -1, -1]
    let outOfOrder = 0
    let records = 0
    for await (const r of log.stream('telemetry').records({ from: 'earliest' })) {
      const { p, seq } = JSON.parse(r.payload.toString()) as { p: number, seq: number }
      seen.set(seq, (seen.get(seq) ?? 0) + 1)
      if (seq <= lastPerPublisher[p]) outOfOrder++
      lastPerPublisher[p] = seq
      records++
    }
    await log.close()
    const missing = [...ackedAtCrash].filter(seq => !seen.has(seq))
    const duplicated = [...seen].filter(([, n]) => n > 1)
    process.stdout.write(`# crash test, ack:${ack}: ${sent} sent, ${ackedAtCrash.size} acknowledged, ${records} records in the log after restart\n`)
    assert.deepEqual(missing, [], 'acknowledged messages missing from the log')
    assert.deepEqual(duplicated, [], 'records appended twice')
    assert.equal(outOfOrder, 0, 'records out of publish order')
    assert.ok(records >= ackedAtCrash.size)
  } finally {
    await broker.stop()
  }
}
