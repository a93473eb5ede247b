// A seeded fuzzer (issue #20, "the suite to keep"): well-formed MQTT 3.1.1 and 5.0 packets,
// mutated (bits flipped, bytes cut, inserted or repeated, lengths rewritten), sent over many
// short connections with clean and persistent sessions, while a canary publisher streams
// QoS 1 messages to a persistent canary subscriber. The broker must stay up, and the canary
// must get every message once, in order. FUZZ_SEED and FUZZ_PACKETS replay or widen a run
// (the seed is printed).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker } from '../helpers/broker.js'
import { runFuzz } from './fuzz-packets.js'

const SEED = Number(process.env.FUZZ_SEED ?? 20261204)
const PACKETS = Number(process.env.FUZZ_PACKETS ?? 20_000)
const PARALLEL = 16
const CANARY = 200

test(`seeded fuzzer: ${PACKETS.toLocaleString('en')} mutated packets (seed ${SEED}) over clean and persistent sessions; the broker stays up and a QoS 1 canary stream arrives complete, once, in order`, async () => {
  process.stdout.write(`# fuzz seed ${SEED} (replay: FUZZ_SEED=${SEED} FUZZ_PACKETS=${PACKETS})\n`)
  const broker = await startBroker()
  try {
    const { canary } = await runFuzz(broker, { seed: SEED, packets: PACKETS, canary: CANARY, parallel: PARALLEL })
    assert.deepEqual(canary, Array.from({ length: CANARY }, (_, i) => i), 'complete, once, in order')
    const health = await (await fetch(`${broker.httpUrl}/healthz`)).json() as { status: string }
    assert.equal(health.status, 'ok')
    assert.equal(broker.proc.exitCode ?? broker.proc.signalCode, null, 'the broker process is still running')
  } finally {
    await broker.stop()
  }
})
