// Node's floor: the least an MQTT broker written in Node does per connection (a socket and an
// mqtt-packet parser), answering CONNECT with CONNACK and PINGREQ with PINGRESP, keeping no
// session. For the latency scenarios it also forwards each PUBLISH to the sockets subscribed to
// that exact topic (no wildcards, no sessions, no retransmission), PUBACKing QoS 1 at once and
// writing each delivery with its own socket.write, as Mosquitto does. Measured like any
// external broker, it shows how much of the gap to Mosquitto on connect rate, memory and
// latency is Node's:
//   node dist/bench/node-floor.js 18830 &
//   npm run bench -- --only idle-10k,storm,latency --targets mosquitto-unlimited --target mqtt://127.0.0.1:18830
// Whenever the number of sockets changed, it prints RSS per connection as the harness measures
// a broker (no forced GC) and, when started with --expose-gc, heap per connection after a GC.
import { createServer, type Socket } from 'node:net'
import { readFileSync } from 'node:fs'
import mqttPacket from 'mqtt-packet'

const CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x00])
/** MQTT 5: reason code 0 and an empty properties block (the harness's --protocol 5). */
const CONNACK_V5 = Buffer.from([0x20, 0x03, 0x00, 0x00, 0x00])
/** Each socket's protocol level, from its CONNECT: packets to it are encoded for it. */
const versionOf = new WeakMap<Socket, 4 | 5>()
const generate = (socket: Socket, packet: mqttPacket.Packet): Buffer => mqttPacket.generate(packet, { protocolVersion: versionOf.get(socket) ?? 4 })
const PINGRESP = Buffer.from([0xd0, 0x00])
const subscribers = new Map<string, Socket[]>() // exact topic -> sockets (granted QoS 1)
let nextMessageId = 1

function subscribe (socket: Socket, packet: mqttPacket.ISubscribePacket): void {
  for (const { topic } of packet.subscriptions) {
    const list = subscribers.get(topic) ?? []
    list.push(socket)
    subscribers.set(topic, list)
    socket.once('close', () => { list.splice(list.indexOf(socket), 1) })
  }
  const granted = packet.subscriptions.map(s => Math.min(s.qos, 1))
  socket.write(generate(socket, { cmd: 'suback', messageId: packet.messageId, granted }))
}

function forward (socket: Socket, packet: mqttPacket.IPublishPacket): void {
  const id = packet.messageId ?? 0
  if (packet.qos > 0) socket.write(Buffer.from([0x40, 0x02, id >> 8, id & 0xff]))
  const qos = Math.min(packet.qos, 1) as 0 | 1
  for (const subscriber of subscribers.get(packet.topic) ?? []) {
    nextMessageId = nextMessageId === 65535 ? 1 : nextMessageId + 1
    subscriber.write(generate(subscriber, { cmd: 'publish', topic: packet.topic, payload: packet.payload, qos, dup: false, retain: false, messageId: nextMessageId }))
  }
}
const port = Number(process.argv[2] ?? 18830)
// At the open-files limit (idle-max) there may be no descriptor left to read /proc with.
const rssKb = (): number => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN)
  } catch {
    return NaN
  }
}

let open = 0
const server = createServer(socket => {
  open++
  const parser = mqttPacket.parser()
  parser.on('packet', packet => {
    if (packet.cmd === 'connect') {
      versionOf.set(socket, packet.protocolVersion === 5 ? 5 : 4)
      socket.write(packet.protocolVersion === 5 ? CONNACK_V5 : CONNACK)
    }
    else if (packet.cmd === 'pingreq') socket.write(PINGRESP)
    else if (packet.cmd === 'subscribe') subscribe(socket, packet)
    else if (packet.cmd === 'publish') forward(socket, packet)
    else if (packet.cmd === 'disconnect') socket.end()
  })
  parser.on('error', () => socket.destroy())
  socket.on('data', chunk => parser.parse(chunk))
  socket.on('error', () => {})
  socket.on('close', () => { open-- })
})

const gc = (globalThis as { gc?: () => void }).gc
const heapKb = (): number => { gc?.(); return process.memoryUsage().heapUsed / 1024 }
const baseline = { rss: rssKb(), heap: heapKb() }
let reported = 0
setInterval(() => {
  if (open === reported) return
  reported = open
  if (open === 0) return
  const rss = (rssKb() - baseline.rss) / open
  if (Number.isNaN(rss)) return
  const heap = gc === undefined ? '' : `, ${((heapKb() - baseline.heap) / open).toFixed(2)} KiB heap after GC`
  process.stdout.write(`${open} sockets: ${rss.toFixed(2)} KiB RSS${heap} per connection\n`)
}, 2000).unref()

// Accept errors (EMFILE at the open-files limit in the idle-max scenario) refuse that one
// connection, as a broker would; only a failure to listen ends the process.
let listening = false
server.on('error', (err: NodeJS.ErrnoException) => {
  if (listening) return
  process.stderr.write(`node-floor: cannot listen on 127.0.0.1:${port}: ${err.code ?? err.message}\n`)
  process.exit(1)
})
server.listen(port, '127.0.0.1', () => {
  listening = true
  process.stdout.write(`node floor listening on mqtt://127.0.0.1:${port}\n`)
})
process.on('SIGINT', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
