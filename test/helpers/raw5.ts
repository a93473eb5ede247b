// Raw MQTT 5 over a plain socket: for packets MQTT.js would not send (protocol errors, no
// acknowledgements) and for reason codes it would hide.
import { connect as tcpConnect, type Socket } from 'node:net'
import mqttPacket, { type IConnectPacket, type Packet } from 'mqtt-packet'
import { waitFor } from './system.js'

export interface Raw5 {
  socket: Socket
  received: Packet[]
  closed: () => boolean
  send: (packet: Packet) => void
  /** Waits for a packet matching `match` (from the start of the connection). */
  next: (match: (p: Packet) => boolean, what: string, timeoutMs?: number) => Promise<Packet>
}

/** Connects with protocol level 5 and sends CONNECT (fields override the defaults); waits for CONNACK. */
export async function raw5 (port: number, fields: Partial<IConnectPacket> = {}): Promise<Raw5> {
  const socket = tcpConnect(port, '127.0.0.1')
  const parser = mqttPacket.parser({ protocolVersion: 5 })
  const received: Packet[] = []
  let closed = false
  parser.on('packet', p => received.push(p))
  socket.on('data', d => parser.parse(d))
  socket.on('error', () => {})
  socket.on('close', () => { closed = true })
  await new Promise(resolve => socket.once('connect', resolve))
  const send = (packet: Packet): void => { socket.write(mqttPacket.generate(packet, { protocolVersion: 5 })) }
  send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 30, clientId: '', ...fields })
  const next = (match: (p: Packet) => boolean, what: string, timeoutMs = 5000): Promise<Packet> =>
    waitFor(() => received.find(match), timeoutMs, what)
  await next(p => p.cmd === 'connack', 'CONNACK')
  return { socket, received, closed: () => closed, send, next }
}
