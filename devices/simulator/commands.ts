// Device commands on <prefix>/<id>/cmd: {"interval":"5s"} and {"reboot":true}, combinable,
// with an optional "id" echoed in the ack for correlation. Pure: the device applies the result.
import { formatDuration, parseDuration } from './options.js'

export const MIN_INTERVAL_MS = 10
export const MAX_INTERVAL_MS = 24 * 3_600_000

export interface CommandAck {
  ok: boolean
  /** The command as received (when it was JSON). */
  cmd?: unknown
  /** The correlation id, when the command had one. */
  id?: unknown
  interval?: string
  reboot?: true
  error?: string
  /** The device's clock, epoch ms. */
  ts: number
}

export interface CommandResult {
  ack: CommandAck
  intervalMs?: number
  reboot?: boolean
}

const USAGE = 'expected {"interval":"5s"} and/or {"reboot":true}'

export function handleCommand (payload: Buffer, retained: boolean, now: number): CommandResult {
  const fail = (error: string, cmd?: unknown): CommandResult => {
    const ack: CommandAck = { ok: false, cmd, error, ts: now }
    if (typeof cmd === 'object' && cmd !== null && 'id' in cmd) ack.id = (cmd as { id: unknown }).id
    return { ack }
  }
  // A retained command would be replayed on every new subscription (a reboot loop).
  if (retained) return fail('retained commands are ignored; publish commands without the retain flag')
  let cmd: unknown
  try {
    cmd = JSON.parse(payload.toString('utf8'))
  } catch {
    return fail(`command is not JSON; ${USAGE}`)
  }
  if (typeof cmd !== 'object' || cmd === null || Array.isArray(cmd)) return fail(`command is not a JSON object; ${USAGE}`, cmd)
  const fields = cmd as Record<string, unknown>
  const ack: CommandAck = { ok: true, cmd, ts: now }
  if ('id' in fields) ack.id = fields.id
  const result: CommandResult = { ack }
  let understood = false

  if ('interval' in fields) {
    const ms = parseDuration(fields.interval)
    if (ms === undefined || ms < MIN_INTERVAL_MS || ms > MAX_INTERVAL_MS) {
      return fail(`invalid interval ${JSON.stringify(fields.interval)}; expected a duration from 10ms to 24h like "5s"`, cmd)
    }
    result.intervalMs = ms
    ack.interval = formatDuration(ms)
    understood = true
  }
  if ('reboot' in fields) {
    if (fields.reboot !== true) return fail('"reboot" must be true', cmd)
    result.reboot = true
    ack.reboot = true
    understood = true
  }
  if (!understood) return fail(`unknown command; ${USAGE}`, cmd)
  return result
}
