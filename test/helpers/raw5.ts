// Raw MQTT 5 over a plain socket: for packets MQTT.js would not send (protocol errors, no
// acknowledgements) and for reason codes it would hide. rawMqtt speaks MQTT 3.1.1 the same
// way, for comparing the two.
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
export function raw5 (port: number, fields: Partial<IConnectPacket> = {}): Promise<Raw5> {
  return rawMqtt(port, 5, fields)
}

/** raw5 for protocol level 4 (MQTT 3.1.1) or 5; waits for `firstReply` (an AUTH, in an MQTT 5 authentication exchange). */
export async function rawMqtt (port: number, protocolVersion: 4 | 5, fields: Partial<IConnectPacket> = {}, firstReply: 'connack' | 'auth' = 'connack'): Promise<Raw5> {
  const socket = tcpConnect(port, '127.0.0.1')
  const parser = mqttPacket.parser({ protocolVersion })
  const received: Packet[] = []
  let closed = false
  parser.on('packet', p => received.push(p))
  socket.on('data', d => parser.parse(d))
  socket.on('error', () => {})
  socket.on('close', () => { closed = true })
  await new Promise(resolve => socket.once('connect', resolve))
  const send = (packet: Packet): void => { socket.write(mqttPacket.generate(packet, { protocolVersion })) }
  send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion, clean: true, keepalive: 30, clientId: '', ...fields })
  const next = (match: (p: Packet) => boolean, what: string, timeoutMs = 5000): Promise<Packet> =>
    waitFor(() => received.find(match), timeoutMs, what)
  await next(p => p.cmd === firstReply || p.cmd === 'connack', firstReply.toUpperCase())
  return { socket, received, closed: () => closed, send, next }
}

export const idOf = (p: Packet): number | undefined => (p as { messageId?: number }).messageId
/** An MQTT 5 acknowledgement's reason code (absent: 0x00, success). */
export const reasonOf = (p: Packet): number => (p as { reasonCode?: number }).reasonCode ?? 0
export const payloadOf = (p: Packet): string => p.cmd === 'publish' ? p.payload.toString() : ''

export const publish = (topic: string, messageId: number, payload: string, qos: 1 | 2 = 2, dup = false): Packet =>
  ({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, messageId, retain: false, dup })

/** The packets of one type received so far (with this packet id, if given). */
export const receivedOf = (c: Raw5, cmd: Packet['cmd'], messageId?: number): Packet[] =>
  c.received.filter(p => p.cmd === cmd && (messageId === undefined || idOf(p) === messageId))

export const waitCount = (c: Raw5, cmd: Packet['cmd'], n: number): Promise<boolean> =>
  waitFor(() => receivedOf(c, cmd).length >= n, 5000, `${n} ${cmd.toUpperCase()}`)

/** PINGREQ gets PINGRESP: the connection is up, and every packet sent before it was handled. */
export async function stillUp (c: Raw5): Promise<void> {
  const before = receivedOf(c, 'pingresp').length
  c.send({ cmd: 'pingreq' })
  await waitCount(c, 'pingresp', before + 1)
  if (c.closed()) throw new Error('the connection closed')
}
