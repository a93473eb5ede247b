// A run of the fleet, as named steps: probe the broker, start the echo (--verify), start
// devices at the ramp rate, run until the duration or Ctrl-C, then drain and summarize.
import { createBackoff } from './backoff.js'
import { Device, type DeviceContext } from './device.js'
import type { SimOptions } from './options.js'
import { checkFileLimit, explain, FleetError, probe } from './probe.js'
import { startProgress, type Summary } from './progress.js'
import { newStats, type FleetStats } from './stats.js'
import { startEcho, type Echo } from './verify.js'

export interface RunIo {
  /** Progress lines (stdout, or stderr with --json). */
  progress: NodeJS.WriteStream
  /** Error lines. */
  errors: NodeJS.WritableStream
  /** Aborted by Ctrl-C: stop early, still drain and summarize. */
  signal: AbortSignal
}

const RAMP_TICK_MS = 50
/** How long the end of a run waits for acks, for the echo, and for clean disconnects. */
const DRAIN_TIMEOUT_MS = 10_000
const DISCONNECT_TIMEOUT_MS = 5000
const ECHO_QUIET_MS = 2000
const LOST_EXAMPLES = 10
/** Distinct error messages printed before further ones are only counted. */
const MAX_ERROR_LINES = 5

export async function runFleet (opts: SimOptions, io: RunIo): Promise<Summary> {
  checkFileLimit(opts.devices + (opts.verify ? 1 : 0))
  await probe(opts)

  const stats = newStats()
  const cpuStart = process.cpuUsage()
  const startedAt = Date.now()
  const backoff = createBackoff(opts.devices, opts.rampPerSec)
  const onError = errorReporter(stats, opts, io.errors)
  const ctx: DeviceContext = { opts, stats, backoff, onError }
  const devices: Device[] = Array.from({ length: opts.devices }, (_, i) => new Device(i, ctx))
  const byId = new Map(devices.map(d => [d.id, d]))

  let echo: Echo | undefined
  if (opts.verify) {
    echo = startEcho(opts, byId, stats, onError)
    await withTimeout(echo.ready, DRAIN_TIMEOUT_MS, 'the --verify subscription was not acknowledged').catch(async err => {
      await echo?.close()
      throw new FleetError(`--verify: cannot subscribe to ${opts.prefix}/+/telemetry on ${opts.url}: ${explain(err as Error, opts)}`)
    })
  }

  const progress = startProgress(stats, opts.devices, io.progress, opts.reportMs)
  const ramp = startRamp(devices, opts.rampPerSec, io.signal)
  await waitForEnd(opts.durationMs, io.signal)
  ramp.stop()
  const seconds = (Date.now() - startedAt) / 1000 // the run itself, without the drain

  // Drain: no new readings, wait for outstanding acks, then for the echo to catch up.
  for (const d of devices) d.pauseTelemetry()
  await poll(() => devices.every(d => d.inflight === 0), DRAIN_TIMEOUT_MS)
  let lost: { lost: number, examples: string[] } | undefined
  if (echo) {
    // Until everything came back, or nothing more arrived for a while (then it is lost).
    let lastEchoed = -1
    let lastChange = Date.now()
    await poll(() => {
      if (stats.echoed !== lastEchoed) {
        lastEchoed = stats.echoed
        lastChange = Date.now()
      }
      return stats.echoed >= stats.acked || Date.now() - lastChange > ECHO_QUIET_MS
    }, DRAIN_TIMEOUT_MS)
    lost = findLost(devices)
  }
  const rssMB = process.memoryUsage().rss / 1e6 // with every device still connected

  await Promise.all(devices.map(d => d.stop(DISCONNECT_TIMEOUT_MS)))
  await echo?.close()
  progress.stop()

  const cpu = process.cpuUsage(cpuStart)
  return {
    url: opts.url,
    devices: opts.devices,
    profile: opts.profile,
    qos: opts.qos,
    seconds,
    connectedPeak: stats.peakConnected,
    sent: stats.sent,
    acknowledged: stats.acked,
    failed: stats.failed,
    skipped: stats.skipped,
    errors: stats.errors,
    reconnects: stats.reconnects,
    commands: stats.commands,
    commandAcks: stats.commandAcks,
    reboots: stats.reboots,
    msgsPerSec: stats.sent / Math.max(seconds, 0.001),
    verify: lost === undefined ? undefined : { received: stats.echoed, lost: lost.lost, lostExamples: lost.examples, duplicates: stats.duplicates },
    cpuPercent: (cpu.user + cpu.system) / 1000 / Math.max(Date.now() - startedAt, 1) * 100,
    rssMB
  }
}

/** Lost messages, and the first few of them as "<id>#<seq>" so that a loss can be looked into. */
function findLost (devices: Device[]): { lost: number, examples: string[] } {
  let lost = 0
  const examples: string[] = []
  for (const d of devices) {
    const seqs: number[] = []
    lost += d.confirmed.missingFrom(d.echoed, seqs, LOST_EXAMPLES - examples.length)
    for (const seq of seqs) examples.push(`${d.id}#${seq}`)
  }
  return { lost, examples }
}

/** Starts `perSec` devices per second in small batches until all are started or aborted. */
function startRamp (devices: Device[], perSec: number, signal: AbortSignal): { stop: () => void } {
  let next = 0
  let budget = 0
  let lastAt = Date.now()
  const step = (): void => {
    const now = Date.now()
    budget += (now - lastAt) / 1000 * perSec
    lastAt = now
    while (budget >= 1 && next < devices.length && !signal.aborted) {
      devices[next++].start()
      budget--
    }
    if (next >= devices.length || signal.aborted) clearInterval(timer)
  }
  budget = 1 // the first device starts at once
  const timer = setInterval(step, RAMP_TICK_MS)
  step()
  return { stop: () => clearInterval(timer) }
}

function waitForEnd (durationMs: number | null, signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (signal.aborted) return resolve()
    const timer = durationMs === null ? null : setTimeout(done, durationMs)
    function done (): void {
      if (timer) clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done)
  })
}

/** Prints the first few distinct errors (with the device that saw them); counts all. */
function errorReporter (stats: FleetStats, opts: SimOptions, out: NodeJS.WritableStream): (id: string, err: Error) => void {
  const seen = new Set<string>()
  return (id, err) => {
    stats.errors++
    const text = explain(err, opts)
    if (seen.has(text) || seen.size > MAX_ERROR_LINES) return
    seen.add(text)
    // On a terminal, first clear the live progress line the error would otherwise run into.
    if ((out as NodeJS.WriteStream).isTTY) out.write('\r\x1b[K')
    out.write(seen.size > MAX_ERROR_LINES
      ? 'simulate: more kinds of errors; they are counted but no longer printed\n'
      : `simulate: ${id}: ${text}\n`)
  }
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

async function poll (check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) return false
    await sleep(50)
  }
  return true
}

function withTimeout<T> (promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(message)), ms) })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
