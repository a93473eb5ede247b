// A raw MQTT 3.1.1 session in the harness process (clean, keep alive 120), for the scenarios
// that drive one publisher and one subscriber themselves (retained, delayed).
import { connect as tcpConnect, type Socket } from 'node:net'
import mqttPacket from 'mqtt-packet'
import type { BrokerEndpoint } from '../targets.js'

export interface Session { socket: Socket, onPacket: (fn: (p: mqttPacket.Packet) => void) => void }

/** Connects and resolves after CONNACK; `onPacket` adds a listener for every packet after it. */
export async function session (node: BrokerEndpoint, clientId: string): Promise<Session> {
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = tcpConnect(node.port, node.host, () => resolve(s))
    s.once('error', reject)
  })
  const parser = mqttPacket.parser()
  const handlers: Array<(p: mqttPacket.Packet) => void> = []
  parser.on('packet', p => { for (const h of handlers) h(p) })
  socket.on('data', d => parser.parse(d))
  const connack = new Promise<void>(resolve => handlers.push(p => { if (p.cmd === 'connack') resolve() }))
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 120, clientId }))
  await connack
  return { socket, onPacket: fn => handlers.push(fn) }
}
