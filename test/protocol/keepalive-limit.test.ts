// --max-keepalive: MQTT 5 clients asking for a longer keep alive (or none) are told the
// maximum in CONNACK's Server Keep Alive (MQTT-3.2.2-21) and held to it; MQTT 3.1.1 has no
// way to say so, so a 3.1.1 client asking for more is refused with CONNACK 0x02.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt, { type IClientOptions, type IConnackPacket } from 'mqtt'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { waitFor } from '../helpers/system.js'

let broker: BrokerProcess
before(async () => { broker = await startBroker({ args: ['--max-keepalive', '20s'] }) })
after(async () => { await broker.stop() })

/** Resolves the CONNACK, or the refusal's return code. */
async function connackOf (opts: IClientOptions): Promise<IConnackPacket | number> {
  const client = mqtt.connect(broker.mqttUrl, { reconnectPeriod: 0, connectTimeout: 5000, ...opts })
  try {
    return await new Promise<IConnackPacket | number>((resolve, reject) => {
      client.once('connect', resolve)
      client.once('error', err => { const code = (err as { code?: number }).code; return typeof code === 'number' ? resolve(code) : reject(err) })
    })
  } finally {
    client.end(true)
  }
}

test('MQTT 5: a longer keep alive, or none, gets Server Keep Alive 20; a shorter one is kept as asked', async () => {
  for (const [keepalive, expected] of [[60, 20], [0, 20], [10, undefined], [20, undefined]] as const) {
    const connack = await connackOf({ protocolVersion: 5, keepalive })
    assert.equal(typeof connack, 'object', `keepalive ${keepalive}: connected`)
    assert.equal((connack as IConnackPacket).properties?.serverKeepAlive, expected, `keepalive ${keepalive}`)
  }
})

test('MQTT 3.1.1: a longer keep alive gets CONNACK 0x02 and the line says why; a shorter one, or none, connects', async () => {
  assert.equal(await connackOf({ keepalive: 60 }), 2)
  await waitFor(() => broker.logs.some(l => String(l.error ?? '').includes('--max-keepalive 20 s')), 5000, 'a log line naming the flag')
  for (const keepalive of [10, 0]) assert.equal(typeof await connackOf({ keepalive }), 'object', `keepalive ${keepalive}`)
})
