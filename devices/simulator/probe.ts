// Before starting a fleet: one connection with the fleet's URL and credentials, so an
// unreachable broker or a refused login is one clear line instead of 1000 failing devices.
import { readFileSync } from 'node:fs'
import mqtt from 'mqtt'
import { protocolOptions, UsageError, type SimOptions } from './options.js'

/** The broker cannot be reached or refused us. Exit code 1. */
export class FleetError extends Error {
  override name = 'FleetError'
  readonly exitCode = 1
}

const PROBE_TIMEOUT_MS = 5000

export function probe (opts: SimOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(opts.url, {
      clientId: `${opts.idPrefix}-probe-${Math.random().toString(36).slice(2, 10)}`,
      clean: true,
      ...protocolOptions(opts, false),
      reconnectPeriod: 0,
      connectTimeout: PROBE_TIMEOUT_MS,
      username: opts.username,
      password: opts.password,
      ca: opts.ca,
      rejectUnauthorized: !opts.insecure
    })
    let settled = false
    const finish = (err?: Error): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      client.end(true)
      if (err) reject(new FleetError(`cannot connect to ${opts.url}: ${explain(err, opts, true)}`))
      else resolve()
    }
    const timer = setTimeout(() => finish(new Error(`no CONNACK within ${PROBE_TIMEOUT_MS / 1000}s`)), PROBE_TIMEOUT_MS + 1000)
    client.once('connect', () => finish())
    client.once('error', err => finish(err))
    client.once('close', () => finish(new Error('the connection closed before the broker answered' +
      (opts.url.startsWith('ws') ? ' (is the WebSocket path right? Swallow uses /mqtt)' : ' (is this an MQTT port?)'))))
  })
}

/** Turns socket, TLS and CONNACK errors into what the user should check. */
export function explain (err: Error, opts: Pick<SimOptions, 'url' | 'username'>, connecting = false): string {
  const code = (err as NodeJS.ErrnoException).code as string | number | undefined
  const host = new URL(opts.url).host
  if (code === 'ECONNREFUSED') return `connection refused at ${host} (is the broker running and listening on that port?)`
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host "${new URL(opts.url).hostname}" not found`
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `${host} is unreachable (${code})`
  if (code === 'ECONNRESET') {
    if (!connecting) return `${host} reset the connection`
    return `${host} reset the connection ` + (opts.url.startsWith('ws')
      ? '(is that a WebSocket listener? Swallow\'s is on port 8083 at /mqtt)'
      : '(is that a TLS port? use mqtts:// for it)')
  }
  if (typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|TLS|SSL/.test(code)) {
    return `TLS: ${err.message} (pass --ca FILE with the broker's CA, or --insecure for a test broker)`
  }
  // MQTT 5's 0x8A Banned: a brute-force guard (Swallow's, Mosquitto's plugins) refuses even good credentials.
  if (code === 138) {
    return `locked out (brute-force guard: too many failed logins for this username from this address): ${err.message}; ` +
      'wait for the lockout to end (Swallow: --auth-lockout, 5m by default) and fix the device that sent the wrong password'
  }
  // CONNACK return codes of MQTT 3.1.1: 4 bad username or password, 5 not authorized (which
  // is also what a locked-out client gets over 3.1.1: --protocol 5 tells the two apart).
  if (code === 4 || code === 5 || code === 134 || code === 135) {
    return `the broker refused the login: ${err.message}` + (opts.username ? ' (check --username and --password)' : ' (the broker may need --username and --password)') +
      (code === 5 ? '; over MQTT 3.1.1 a brute-force lockout looks the same: --protocol 5 tells them apart' : '')
  }
  if (code === 2 || code === 133) return `the broker rejected the client id: ${err.message} (try another --id-prefix)`
  return err.message
}

/**
 * One socket per device: refuse a fleet larger than the open-file limit allows (Linux only;
 * elsewhere the first failing sockets report EMFILE as errors).
 */
export function checkFileLimit (devices: number): void {
  let soft: number | undefined
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    if (m && m[1] !== 'unlimited') soft = Number(m[1])
  } catch {
    return
  }
  const needed = devices + 64
  if (soft !== undefined && needed > soft) {
    throw new UsageError(`--devices ${devices} needs about ${needed} open files but this shell allows ${soft}; ` +
      `raise the limit with "ulimit -n ${Math.ceil(needed / 1000) * 1000 + 1000}" or run fewer devices per process`)
  }
}
