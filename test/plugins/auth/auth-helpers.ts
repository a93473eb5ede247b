// Shared by the auth tests: raw CONNECTs that report the CONNACK code, SUBSCRIBEs that
// report the SUBACK codes, and temp files.
import { connect as tcpConnect, type Socket } from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import mqttPacket from 'mqtt-packet'
import type { MqttClient } from 'mqtt'
import { tempDir } from '../../helpers/system.js'

/** `localAddress`: another loopback address (127.0.0.2, ...), to look like another machine. */
function rawSocket (port: number, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ port, host: '127.0.0.1', localAddress }, () => resolve(s))
    s.once('error', reject)
  })
}

/** Writes raw bytes as a connection's first packet; resolves the CONNACK code or 'closed'. */
export async function connackForBytes (port: number, bytes: Buffer, timeoutMs = 10_000, protocolVersion: 4 | 5 = 4, localAddress?: string): Promise<number | 'closed'> {
  const socket = await rawSocket(port, localAddress)
  const parser = mqttPacket.parser({ protocolVersion })
  const result = new Promise<number | 'closed'>(resolve => {
    parser.on('packet', p => { if (p.cmd === 'connack') resolve(p.returnCode ?? p.reasonCode ?? -1) })
    socket.on('data', d => parser.parse(d))
    socket.on('close', () => resolve('closed'))
    socket.on('error', () => resolve('closed'))
  })
  socket.write(bytes)
  const timer = setTimeout(() => socket.destroy(), timeoutMs)
  const code = await result
  clearTimeout(timer)
  socket.destroy()
  return code
}

export interface Credentials { username?: string, password?: string | Buffer, clientId?: string, protocolVersion?: 4 | 5, localAddress?: string }

/** CONNECT with these credentials; resolves the CONNACK return code (MQTT 5: reason code) or 'closed'. */
export async function connack (port: number, creds: Credentials, timeoutMs = 10_000): Promise<number | 'closed'> {
  const packet = {
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: creds.protocolVersion ?? 4, clean: true, keepalive: 30,
    clientId: creds.clientId ?? `t-${Math.random().toString(16).slice(2)}`,
    username: creds.username,
    password: typeof creds.password === 'string' ? Buffer.from(creds.password) : creds.password
  } as mqttPacket.IConnectPacket
  return await connackForBytes(port, mqttPacket.generate(packet, { protocolVersion: packet.protocolVersion }), timeoutMs, creds.protocolVersion, creds.localAddress)
}

/** A CONNECT with a raw (possibly invalid UTF-8) username and a password, built by hand. */
export function rawConnect (username: Buffer, password: Buffer): Buffer {
  const field = (b: Buffer): Buffer => Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
  const body = Buffer.concat([
    field(Buffer.from('MQTT')), Buffer.from([4, 0xc2, 0, 30]), field(Buffer.from('raw-client')), field(username), field(password)
  ])
  const length: number[] = []
  let n = body.length
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    length.push(byte)
  } while (n > 0)
  return Buffer.concat([Buffer.from([0x10, ...length]), body])
}

/** Subscribes to several filters in one SUBSCRIBE; resolves the SUBACK return codes. */
export function subscribeCodes (client: MqttClient, filters: string[], qos: 0 | 1 | 2 = 1): Promise<number[]> {
  return new Promise((resolve, reject) => {
    // MQTT.js reports the requested QoS in `granted`; the SUBACK packet has the real codes.
    client.subscribe(Object.fromEntries(filters.map(f => [f, { qos }])), (err, _granted, packet) => {
      const codes = (packet as { granted?: Array<number | { qos: number }> } | undefined)?.granted
      if (!codes) return reject(err ?? new Error('no SUBACK'))
      resolve(codes.map(g => typeof g === 'number' ? g : g.qos))
    })
  })
}

const made: Array<() => void> = []
process.once('exit', () => { for (const remove of made) remove() })

/** A temp directory (removed when the test process exits) with the given files written into it. */
export function files (contents: Record<string, string>): { dir: string, path: (name: string) => string, write: (name: string, text: string) => void } {
  const temp = tempDir('swallow-auth-')
  made.push(temp.remove)
  const dir = temp.path
  const path = (name: string): string => join(dir, name)
  const write = (name: string, text: string): void => writeFileSync(path(name), text, { mode: 0o600 })
  for (const [name, text] of Object.entries(contents)) write(name, text)
  return { dir, path, write }
}

/** Reads one counter's value from the broker's /metrics. */
export async function metric (httpUrl: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text()
  const line = text.split('\n').find(l => l.startsWith(name + labels + ' '))
  return line ? Number(line.split(' ')[1]) : 0
}
