// Raw MQTT over a plain socket, for packets MQTT.js would not send and answers it would hide.
import { connect as tcpConnect, type Socket } from 'node:net'
import mqttPacket from 'mqtt-packet'
import { waitFor } from './system.js'

export interface Outcome {
  /** What the broker answered, e.g. "connack:0", "suback:1,128", "pingresp". */
  packets: string[]
  closed: boolean
}

/**
 * Sends the bytes on a fresh socket and reports what the broker answered and whether it
 * closed the connection, without waiting a fixed time: once `answers` packets came back
 * (deliveries, PUBLISH, do not count), a PINGREQ follows as a sentinel. The broker handles a
 * connection's packets in order, so a broker that was going to close it for what came before
 * closes it instead of answering; its PINGRESP is left out of the packets. Bounded by
 * `timeoutMs` for a broker that does neither.
 */
export function exchange (port: number, bytes: Buffer[], answers = 1, timeoutMs = 10_000): Promise<Outcome> {
  return new Promise(resolve => {
    const packets: string[] = []
    let pinged = false
    const parser = mqttPacket.parser()
    const socket = tcpConnect(port, '127.0.0.1', () => { for (const b of bytes) socket.write(b) })
    const done = (closed: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ packets, closed })
    }
    parser.on('packet', p => {
      if (pinged && p.cmd === 'pingresp') return done(false)
      packets.push(p.cmd + (p.cmd === 'connack' ? `:${p.returnCode}` : '') + (p.cmd === 'suback' ? `:${(p.granted as number[]).join(',')}` : ''))
      if (!pinged && packets.filter(x => x !== 'publish').length >= answers) {
        pinged = true
        socket.write(mqttPacket.generate({ cmd: 'pingreq' }))
      }
    })
    socket.on('data', d => parser.parse(d))
    socket.on('error', () => {})
    socket.on('close', () => done(true))
    const timer = setTimeout(() => done(false), timeoutMs)
  })
}

export const connectPacket = (clientId: string): Buffer =>
  mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId })

export const subscribePacket = (messageId: number, subscriptions: Array<{ topic: string, qos: 0 | 1 | 2 }>): Buffer =>
  mqttPacket.generate({ cmd: 'subscribe', messageId, subscriptions })

export interface RawSession { socket: Socket, received: mqttPacket.Packet[] }

/** A raw MQTT 3.1.1 session that stays open: connects, waits for CONNACK, collects every packet it gets. */
export async function rawSession (port: number, clientId: string, clean: boolean): Promise<RawSession> {
  const socket = tcpConnect(port, '127.0.0.1')
  const parser = mqttPacket.parser()
  const received: mqttPacket.Packet[] = []
  parser.on('packet', p => received.push(p))
  socket.on('data', d => parser.parse(d))
  socket.on('error', () => {})
  await new Promise(resolve => socket.once('connect', resolve))
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean, clientId, keepalive: 30 }))
  await waitFor(() => received.some(p => p.cmd === 'connack'), 5000, 'CONNACK')
  return { socket, received }
}
