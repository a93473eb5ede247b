// Progress while running (a live line on a terminal, plain periodic lines otherwise) and
// the summary at the end.
import type { FleetStats } from './stats.js'

export interface Summary {
  url: string
  devices: number
  profile: string
  qos: number
  seconds: number
  connectedPeak: number
  sent: number
  acknowledged: number
  failed: number
  skipped: number
  errors: number
  reconnects: number
  commands: number
  commandAcks: number
  reboots: number
  msgsPerSec: number
  /** Present with --verify. */
  verify?: { received: number, lost: number, lostExamples: string[], duplicates: number }
  cpuPercent: number
  rssMB: number
}

interface Snapshot { at: number, sent: number, acked: number }

export interface Progress { stop: () => void }

export function startProgress (stats: FleetStats, devices: number, out: NodeJS.WriteStream, plainEveryMs: number): Progress {
  const tty = out.isTTY === true
  const started = Date.now()
  let last: Snapshot = { at: started, sent: 0, acked: 0 }
  const tick = (): void => {
    const now = Date.now()
    const dt = Math.max(1, now - last.at) / 1000
    const sentRate = (stats.sent - last.sent) / dt
    const ackRate = (stats.acked - last.acked) / dt
    last = { at: now, sent: stats.sent, acked: stats.acked }
    const line = `[${((now - started) / 1000).toFixed(0)}s] connected ${stats.connected}/${devices}  sent ${rate(sentRate)}/s  acked ${rate(ackRate)}/s  ` +
      `errors ${stats.errors}  reconnects ${stats.reconnects}  total sent ${stats.sent} acked ${stats.acked}`
    if (tty) out.write(`\r\x1b[K${line}`)
    else out.write(line + '\n')
  }
  const timer = setInterval(tick, tty ? 1000 : plainEveryMs)
  return {
    stop: () => {
      clearInterval(timer)
      if (tty) out.write('\r\x1b[K')
    }
  }
}

function rate (perSec: number): string {
  return perSec >= 100 ? perSec.toFixed(0) : perSec.toFixed(1)
}

export function formatSummary (s: Summary): string {
  const lines = [
    `simulate: ${s.devices} devices (${s.profile}, QoS ${s.qos}) against ${s.url} for ${s.seconds.toFixed(1)}s`,
    `  connected   ${s.connectedPeak}/${s.devices} at peak, ${s.reconnects} reconnects, ${s.errors} errors`,
    `  telemetry   sent ${s.sent} (${rate(s.msgsPerSec)}/s), acknowledged ${s.acknowledged}, failed ${s.failed}, skipped while offline ${s.skipped}`,
    `  commands    ${s.commands} received, ${s.commandAcks} acknowledged, ${s.reboots} reboots`
  ]
  if (s.verify) {
    const v = s.verify
    lines.push(`  verify      received ${v.received} of ${s.acknowledged} acknowledged: ${v.lost === 0 ? 'no loss' : `LOST ${v.lost}`}, ${v.duplicates} duplicates`)
    if (v.lost > 0) lines.push(`  lost e.g.   ${v.lostExamples.join(' ')} (device#seq)`)
  }
  lines.push(`  simulator   ${s.cpuPercent.toFixed(0)}% of one CPU core, ${s.rssMB.toFixed(0)} MB memory`)
  return lines.join('\n') + '\n'
}
