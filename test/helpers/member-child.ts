// A QoS 1 subscriber as an OS process of its own (run with `node`, see member-process.ts), so that
// a test can kill -9 it like a crashed client. Arguments: a JSON object (MemberArgs). Prints one
// JSON line per stdout write: {"ready":true} once subscribed, then {"t":topic,"p":payload} per
// message, written before its PUBACK (stdout to a pipe is synchronous on Linux). The line "end"
// on stdin leaves cleanly (DISCONNECT); messages that arrive after the DISCONNECT went out are
// not printed, since they can no longer be acknowledged. With `deferred` it connects only at the
// line "connect", after printing {"loaded":true} (a process already loaded, so that a test joins
// it at a chosen moment).
import mqtt from 'mqtt'
import { createInterface } from 'node:readline'

export interface MemberArgs { url: string, clientId: string, clean: boolean, filter: string, deferred?: boolean }

const args = JSON.parse(process.argv[2] ?? '{}') as MemberArgs
const print = (line: object): void => { process.stdout.write(JSON.stringify(line) + '\n') }
let client: mqtt.MqttClient | undefined

function join (): void {
  const c = mqtt.connect(args.url, { clientId: args.clientId, clean: args.clean, reconnectPeriod: 0, connectTimeout: 5000 })
  let disconnectSent = false
  c.on('packetsend', packet => { if (packet.cmd === 'disconnect') disconnectSent = true })
  c.on('message', (topic, payload) => { if (!disconnectSent) print({ t: topic, p: payload.toString() }) })
  c.on('error', err => { process.stderr.write(`${err.message}\n`); process.exit(1) })
  c.once('connect', () => {
    c.subscribe(args.filter, { qos: 1 }, err => {
      if (err) throw err
      print({ ready: true })
    })
  })
  client = c
}

if (args.deferred) print({ loaded: true })
else join()
createInterface({ input: process.stdin }).on('line', line => {
  if (line === 'connect' && !client) join()
  if (line === 'end') client?.end(() => process.exit(0))
})
