// One virtual device: an MQTT.js client with a persistent session, a retained birth and
// will on <prefix>/<id>/status, periodic telemetry, and a command handler.
// Reconnects are ours (reconnectPeriod 0) so that they can back off with jitter.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { Backoff } from './backoff.js'
import { handleCommand, type CommandResult } from './commands.js'
import { createProfile, type Profile } from './profiles.js'
import { protocolOptions, type SimOptions } from './options.js'
import { SeqSet, type FleetStats } from './stats.js'

/** Beyond this many unacknowledged telemetry messages a device skips readings. */
const MAX_INFLIGHT = 100
/** A rebooting device stays away this long (plus up to as much again, at random). */
const REBOOT_DOWNTIME_MS = 1000

export interface DeviceContext {
  opts: SimOptions
  stats: FleetStats
  backoff: Backoff
  /** Called for every client error; the fleet counts them and prints the first of each kind. */
  onError: (id: string, err: Error) => void
}

export class Device {
  readonly id: string
  /** Telemetry sequence numbers the broker acknowledged (or, at QoS 0, that were written). */
  readonly confirmed = new SeqSet()
  /** Set by the fleet's echo subscription (--verify). */
  readonly echoed = new SeqSet()
  seq = 0
  boot = 1
  inflight = 0
  intervalMs: number

  private client: MqttClient | null = null
  private online = false
  private everConnected = false
  private stopped = false
  private rebooting = false
  private attempt = 0
  private reconnectTimer: NodeJS.Timeout | null = null
  private telemetryTimer: NodeJS.Timeout | null = null
  private lastReadingAt = Date.now()
  private readonly profile: Profile
  /** A device's clock is never quite right: a fixed skew of up to +-250 ms. */
  private readonly clockSkewMs: number
  private readonly topics: { status: string, telemetry: string, cmd: string, ack: string }

  constructor (readonly index: number, private readonly ctx: DeviceContext) {
    const width = Math.max(4, String(ctx.opts.devices).length)
    this.id = `${ctx.opts.idPrefix}-${String(index + 1).padStart(width, '0')}`
    this.intervalMs = ctx.opts.intervalMs
    this.profile = createProfile(ctx.opts.profile, index)
    this.clockSkewMs = Math.round((Math.random() - 0.5) * 500)
    const base = `${ctx.opts.prefix}/${this.id}`
    this.topics = { status: `${base}/status`, telemetry: `${base}/telemetry`, cmd: `${base}/cmd`, ack: `${base}/cmd/ack` }
  }

  get profileName (): string { return this.profile.name }
  get isOnline (): boolean { return this.online }

  start (): void {
    this.ctx.stats.started++
    this.connect()
  }

  /** Stops telemetry only (the end of a run waits for acks and the echo after this). */
  pauseTelemetry (): void {
    this.stopped = true
    if (this.telemetryTimer) clearInterval(this.telemetryTimer)
    this.telemetryTimer = null
  }

  /** Says goodbye (retained `offline`), disconnects cleanly, gives up after `timeoutMs`. */
  async stop (timeoutMs: number): Promise<void> {
    this.pauseTelemetry()
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    this.reconnectTimer = null
    const client = this.client
    if (!client) return
    if (this.online) client.publish(this.topics.status, 'offline', { qos: 1, retain: true })
    await endClient(client, !this.online, timeoutMs)
  }

  private connect (): void {
    const { opts } = this.ctx
    const options: IClientOptions = {
      clientId: this.id,
      clean: false,
      keepalive: 30,
      connectTimeout: 10_000,
      reconnectPeriod: 0,
      resubscribe: false,
      ...protocolOptions(opts, true),
      username: opts.username,
      password: opts.password,
      ca: opts.ca,
      rejectUnauthorized: !opts.insecure,
      will: { topic: this.topics.status, payload: Buffer.from('offline'), qos: 1, retain: true }
    }
    const client = mqtt.connect(opts.url, options)
    this.client = client
    // Events of a client replaced by a reboot are ignored.
    client.on('connect', connack => { if (this.client === client) this.onConnect(client, connack.sessionPresent) })
    client.on('close', () => { if (this.client === client) this.onClose(client) })
    // Errors of a client we are closing on purpose (reboot, end of run) are not the broker's fault.
    client.on('error', err => { if (this.client === client && !this.rebooting && !this.stopped) this.ctx.onError(this.id, err) })
    client.on('message', (_topic, payload, packet) => { if (this.client === client) this.onCommand(client, payload, packet.retain) })
  }

  private onConnect (client: MqttClient, sessionPresent: boolean): void {
    const { stats } = this.ctx
    this.online = true
    this.attempt = 0
    stats.connected++
    if (stats.connected > stats.peakConnected) stats.peakConnected = stats.connected
    if (this.everConnected) stats.reconnects++
    this.everConnected = true
    client.publish(this.topics.status, 'online', { qos: 1, retain: true })
    if (!sessionPresent) {
      client.subscribe(this.topics.cmd, { qos: 1 }, err => { if (err) this.ctx.onError(this.id, err) })
    }
    if (!this.telemetryTimer && !this.stopped) this.scheduleTelemetry(Math.random() * this.intervalMs)
  }

  private onClose (client: MqttClient): void {
    if (this.online) this.ctx.stats.connected--
    this.online = false
    if (this.stopped || this.rebooting || this.reconnectTimer) return
    const delay = this.ctx.backoff.delay(this.attempt++)
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null
      if (this.stopped || this.client !== client) return
      // Keep the stores: unacknowledged QoS 1/2 messages are sent again on the new connection.
      client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore })
    }, delay)
  }

  /** First reading after `firstDelayMs` (spreads the fleet over the interval), then every interval. */
  private scheduleTelemetry (firstDelayMs: number): void {
    if (this.telemetryTimer) clearInterval(this.telemetryTimer)
    this.telemetryTimer = setTimeout(() => {
      this.publishReading()
      this.telemetryTimer = setInterval(() => this.publishReading(), this.intervalMs)
    }, firstDelayMs)
  }

  private publishReading (): void {
    const { stats, opts } = this.ctx
    const client = this.client
    if (!client || !this.online || this.inflight >= MAX_INFLIGHT) {
      stats.skipped++
      return
    }
    const now = Date.now()
    const reading = this.profile.next(now - this.lastReadingAt)
    this.lastReadingAt = now
    const seq = ++this.seq
    // id and seq first: the echo subscription reads them without parsing the whole JSON.
    const payload = JSON.stringify({ id: this.id, seq, ts: now + this.clockSkewMs, boot: this.boot, profile: this.profile.name, ...reading })
    this.inflight++
    stats.sent++
    client.publish(this.topics.telemetry, payload, { qos: opts.qos }, err => {
      this.inflight--
      if (err) {
        stats.failed++
      } else {
        stats.acked++
        this.confirmed.add(seq)
      }
    })
  }

  private onCommand (client: MqttClient, payload: Buffer, retained: boolean): void {
    const { stats } = this.ctx
    stats.commands++
    const result: CommandResult = handleCommand(payload, retained, Date.now() + this.clockSkewMs)
    if (result.intervalMs !== undefined && result.intervalMs !== this.intervalMs) {
      this.intervalMs = result.intervalMs
      if (this.telemetryTimer && !this.stopped) this.scheduleTelemetry(this.intervalMs)
    }
    client.publish(this.topics.ack, JSON.stringify(result.ack), { qos: 1 }, err => {
      if (!err) stats.commandAcks++
      if (result.reboot && this.client === client) void this.reboot(client)
    })
  }

  /** A reboot loses RAM: a new client (fresh stores), the same id and session, boot + 1. */
  private async reboot (client: MqttClient): Promise<void> {
    if (this.rebooting || this.stopped) return
    this.ctx.stats.reboots++
    this.rebooting = true
    if (this.telemetryTimer) clearInterval(this.telemetryTimer)
    this.telemetryTimer = null
    client.publish(this.topics.status, 'offline', { qos: 1, retain: true })
    await endClient(client, false, 5000)
    if (this.online) this.ctx.stats.connected--
    this.online = false
    this.client = null
    await new Promise(resolve => setTimeout(resolve, REBOOT_DOWNTIME_MS * (1 + Math.random())))
    this.rebooting = false
    if (this.stopped) return
    this.boot++
    this.inflight = 0
    this.everConnected = false // coming back from a reboot is not counted as a reconnect
    this.connect()
  }
}

/** client.end with a deadline: a dead socket must not hold up the end of a run. */
function endClient (client: MqttClient, force: boolean, timeoutMs: number): Promise<void> {
  return new Promise(resolve => {
    const timer = setTimeout(() => {
      client.stream?.destroy()
      resolve()
    }, timeoutMs)
    client.end(force, () => {
      clearTimeout(timer)
      resolve()
    })
  })
}
