// What Home Assistant's MQTT integration does with a broker, done with the client it is built
// on: paho-mqtt (Debian's python3-paho-mqtt, 1.6.x) speaking MQTT 5. It connects with Clean
// Start and a retained will "offline" on homeassistant/status, subscribes to the discovery
// prefix and to a device's topics, publishes its retained birth "online", receives the
// device's retained discovery config and live state, sends the device a command, and when it
// dies without a DISCONNECT the broker publishes its will.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker } from '../helpers/broker.js'
import { collect, connect, connectCollecting, type MqttClient } from '../helpers/mqtt.js'
import { tempDir, waitFor } from '../helpers/system.js'

const PYTHON = '/usr/bin/python3'

/** Like needBinary (test/helpers/system.ts): a loud skip outside CI, a failure in CI. */
function needPaho (): string | false {
  const probe = spawnSync(PYTHON, ['-c', 'import paho.mqtt.client'], { stdio: 'ignore' })
  if (probe.status === 0) return false
  const message = `${PYTHON} cannot import paho.mqtt.client: install it with "apt-get install -y python3-paho-mqtt"`
  if (process.env.CI === 'true') throw new Error(`CI: ${message}`)
  process.stderr.write(`\n*** SKIPPING: ${message} ***\n\n`)
  return message
}

const skip = needPaho()

// Home Assistant's side. Prints one JSON line per event; reads JSON commands from stdin.
const HOME_ASSISTANT = String.raw`
import json, sys, threading
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

host, port, client_id = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()

def emit(event, **fields):
    with lock:
        print(json.dumps(dict(event=event, **fields)), flush=True)

def user_properties(properties):
    return [list(p) for p in getattr(properties, 'UserProperty', None) or []]

client = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
client.will_set('homeassistant/status', 'offline', qos=1, retain=True)

def on_connect(client, userdata, flags, reason, properties):
    emit('connected', reason=reason.value, session_present=bool(flags.get('session present')),
         receive_maximum=getattr(properties, 'ReceiveMaximum', None))
    # One SUBSCRIBE for the discovery prefix and the device's topics, as Home Assistant batches them.
    client.subscribe([('homeassistant/#', SubscribeOptions(qos=0)), ('dev1/#', SubscribeOptions(qos=1))])

def on_subscribe(client, userdata, mid, reason_codes, properties):
    emit('subscribed', reasons=[rc.value for rc in reason_codes])
    # The birth message, once subscribed (Home Assistant then reacts to the devices' answers).
    client.publish('homeassistant/status', 'online', qos=1, retain=True)

def on_publish(client, userdata, mid):
    emit('acknowledged', mid=mid)

def on_message(client, userdata, msg):
    emit('message', topic=msg.topic, payload=msg.payload.decode('utf-8'), qos=msg.qos, retain=bool(msg.retain),
         user_properties=user_properties(msg.properties),
         content_type=getattr(msg.properties, 'ContentType', None))

def on_disconnect(client, userdata, reason, properties=None):
    emit('disconnected', reason=getattr(reason, 'value', reason))

client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_publish = on_publish
client.on_message = on_message
client.on_disconnect = on_disconnect
import paho.mqtt
emit('starting', paho=paho.mqtt.__version__)
client.connect(host, port, keepalive=60, clean_start=True)
client.loop_start()

for line in sys.stdin:
    command = json.loads(line)
    if command['cmd'] == 'publish':
        properties = Properties(PacketTypes.PUBLISH)
        properties.UserProperty = [('source', 'home-assistant')]
        info = client.publish(command['topic'], command['payload'], qos=command['qos'], properties=properties)
        emit('publishing', topic=command['topic'], mid=info.mid)

# stdin closed (the test is gone): leave normally.
client.disconnect()
client.loop_stop()
`

interface PahoEvent {
  event: string
  [field: string]: unknown
}

interface HomeAssistant {
  proc: ChildProcessWithoutNullStreams
  events: PahoEvent[]
  /** Waits for the first event (since the start) that `match` accepts. */
  waitEvent: (what: string, match: (e: PahoEvent) => boolean, timeoutMs?: number) => Promise<PahoEvent>
  send: (command: Record<string, unknown>) => void
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

function startHomeAssistant (port: number, clientId: string, dir: string): HomeAssistant {
  const script = join(dir, 'home_assistant.py')
  writeFileSync(script, HOME_ASSISTANT)
  const proc = spawn(PYTHON, ['-u', script, '127.0.0.1', String(port), clientId], { stdio: ['pipe', 'pipe', 'pipe'] })
  process.once('exit', () => proc.kill('SIGKILL'))
  const events: PahoEvent[] = []
  let stderr = ''
  let buffered = ''
  proc.stdout.on('data', chunk => {
    buffered += String(chunk)
    let nl
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      try {
        events.push(JSON.parse(line) as PahoEvent)
      } catch {
        events.push({ event: 'unparsed', line })
      }
    }
  })
  proc.stderr.on('data', chunk => { stderr += String(chunk) })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve =>
    proc.once('exit', (code, signal) => resolve({ code, signal })))
  const waitEvent = async (what: string, match: (e: PahoEvent) => boolean, timeoutMs = 10_000): Promise<PahoEvent> => {
    try {
      return await waitFor(() => {
        const found = events.find(match)
        if (found) return found
        if (proc.exitCode !== null) throw new Error(`paho exited with ${proc.exitCode}`)
        return undefined
      }, timeoutMs, `paho: ${what}`)
    } catch (err) {
      throw new Error(`${(err as Error).message}\nevents so far:\n${events.map(e => JSON.stringify(e)).join('\n')}\nstderr:\n${stderr}`)
    }
  }
  return { proc, events, waitEvent, send: command => proc.stdin.write(JSON.stringify(command) + '\n'), exited }
}

const DISCOVERY_TOPIC = 'homeassistant/sensor/dev1/config'
const DISCOVERY = {
  name: 'Dev1 temperature',
  unique_id: 'dev1_temperature',
  state_topic: 'dev1/state',
  command_topic: 'dev1/set',
  availability_topic: 'dev1/availability',
  unit_of_measurement: '°C',
  device_class: 'temperature',
  device: { identifiers: ['dev1'], name: 'Dev1', manufacturer: 'Swallow tests' }
}

test('Home Assistant (paho-mqtt, MQTT 5): discovery, state, commands, birth and will', { skip, timeout: 60_000 }, async () => {
  const broker = await startBroker({ storage: 'embedded' })
  const dir = tempDir('swallow-ha-')
  const clients: MqttClient[] = []
  let ha: HomeAssistant | null = null
  try {
    // The device: MQTT 5, announces itself with a retained discovery config, answers commands.
    const { client: device, got: deviceGot } = await connectCollecting(broker.mqttUrl, { protocolVersion: 5, clientId: 'dev1' })
    clients.push(device)
    await device.subscribeAsync('dev1/set', { qos: 1 })
    const commands: Array<{ payload: string, userProperties: unknown }> = []
    device.on('message', (topic, payload, packet) => {
      if (topic !== 'dev1/set') return
      commands.push({ payload: payload.toString(), userProperties: { ...packet.properties?.userProperties } })
      device.publish('dev1/state', `confirmed ${payload.toString()}`, { qos: 1, properties: { contentType: 'text/plain' } })
    })
    await device.publishAsync(DISCOVERY_TOPIC, JSON.stringify(DISCOVERY), { qos: 1, retain: true, properties: { contentType: 'application/json' } })

    // Someone else watching Home Assistant's status (MQTT 3.1.1: the will crosses to Aedes's side).
    const watcher = await connect(broker.mqttUrl, { protocolVersion: 4, clientId: 'status-watcher' })
    clients.push(watcher)
    const watched = collect(watcher)
    await watcher.subscribeAsync('homeassistant/status', { qos: 1 })

    ha = startHomeAssistant(broker.mqttPort, 'home-assistant-test', dir.path)
    const connected = await ha.waitEvent('CONNACK', e => e.event === 'connected')
    assert.equal(connected.reason, 0, 'CONNACK reason code Success')
    assert.equal(connected.session_present, false, 'Clean Start: no session present')
    const subscribed = await ha.waitEvent('SUBACK', e => e.event === 'subscribed')
    assert.deepEqual(subscribed.reasons, [0, 1], 'granted QoS 0 for homeassistant/# and QoS 1 for dev1/#')

    // The retained discovery config, with the retain flag, at most the subscription's QoS 0.
    const config = await ha.waitEvent('the retained discovery config', e => e.event === 'message' && e.topic === DISCOVERY_TOPIC)
    assert.equal(config.retain, true, 'a retained message sent for a new subscription has the retain flag (MQTT-3.3.1-9)')
    assert.equal(config.qos, 0)
    assert.deepEqual(JSON.parse(config.payload as string), DISCOVERY)

    // The birth message: the watcher gets it live; Home Assistant's own copy too (no No Local).
    await waitFor(() => watched.find(m => m.payload === 'online'), 10_000, 'the birth message at the watcher')
    assert.deepEqual(watched.find(m => m.payload === 'online'), { topic: 'homeassistant/status', payload: 'online', qos: 1, retain: false })
    const ownBirth = await ha.waitEvent('its own birth message', e => e.event === 'message' && e.topic === 'homeassistant/status')
    assert.equal(ownBirth.payload, 'online')
    assert.equal(ownBirth.retain, false, 'a live message keeps retain only with Retain As Published (MQTT-3.3.1-12)')

    // Live state from the device, with its MQTT 5 properties.
    await device.publishAsync('dev1/state', '21.5', { qos: 1, properties: { userProperties: { unit: '°C' }, contentType: 'text/plain' } })
    const state = await ha.waitEvent('the live state', e => e.event === 'message' && e.topic === 'dev1/state' && e.payload === '21.5')
    assert.equal(state.retain, false)
    assert.equal(state.qos, 1)
    assert.deepEqual(state.user_properties, [['unit', '°C']])
    assert.equal(state.content_type, 'text/plain')

    // A command from Home Assistant reaches the device; the device's answer reaches Home Assistant.
    ha.send({ cmd: 'publish', topic: 'dev1/set', payload: 'ON', qos: 1 })
    await waitFor(() => commands.length > 0, 10_000, 'the command at the device')
    assert.deepEqual(commands[0], { payload: 'ON', userProperties: { source: 'home-assistant' } })
    const answer = await ha.waitEvent('the device\'s answer', e => e.event === 'message' && e.topic === 'dev1/state' && e.payload === 'confirmed ON')
    assert.equal(answer.qos, 1)
    assert.equal(answer.content_type, 'text/plain')
    assert.ok(!deviceGot.some(m => m.topic !== 'dev1/set'), 'the device subscribed to dev1/set only')

    // Home Assistant dies without a DISCONNECT: the broker publishes its will.
    ha.proc.kill('SIGKILL')
    const { signal } = await ha.exited
    assert.equal(signal, 'SIGKILL')
    await waitFor(() => watched.find(m => m.payload === 'offline'), 10_000, 'the will "offline" at the watcher')
    assert.deepEqual(watched.find(m => m.payload === 'offline'), { topic: 'homeassistant/status', payload: 'offline', qos: 1, retain: false })

    // The will was retained: it replaced the retained birth.
    const { client: late, got: lateGot } = await connectCollecting(broker.mqttUrl, { protocolVersion: 5, clientId: 'late-subscriber' })
    clients.push(late)
    await late.subscribeAsync('homeassistant/status', { qos: 1 })
    await waitFor(() => lateGot.length > 0, 10_000, 'the retained status at a new subscriber')
    assert.deepEqual(lateGot, [{ topic: 'homeassistant/status', payload: 'offline', qos: 1, retain: true }])
  } finally {
    if (ha !== null && ha.proc.exitCode === null && ha.proc.signalCode === null) ha.proc.kill('SIGKILL')
    await Promise.all(clients.map(c => c.endAsync(true).catch(() => {})))
    await broker.stop()
    dir.remove()
  }
})
