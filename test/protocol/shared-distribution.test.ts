// How each --shared-strategy spreads 10,000 QoS 1 messages over a group of 5 members (issue
// #16's fairness figures; the README's Shared subscriptions section quotes them). One
// publisher, 10 topics, 50 messages in flight, memory storage; each message reaches exactly
// one member.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker } from '../helpers/broker.js'
import { collect, connect, type MqttClient, type Received } from '../helpers/mqtt.js'
import { waitFor } from '../helpers/system.js'

const MESSAGES = 10_000
const MEMBERS = 5
const TOPICS = 10

for (const strategy of ['round_robin', 'random', 'sticky', 'hash_clientid', 'hash_topic', 'least_inflight'] as const) {
  test(`--shared-strategy ${strategy}: ${MESSAGES.toLocaleString('en')} QoS 1 messages over ${MEMBERS} members, each once`, async () => {
    const broker = await startBroker({ storage: 'memory', args: ['--shared-strategy', strategy] })
    const clients: MqttClient[] = []
    try {
      const got: Received[][] = []
      for (let i = 0; i < MEMBERS; i++) {
        const member = await connect(broker.mqttUrl, { clientId: `dist-${i}` })
        got.push(collect(member))
        await member.subscribeAsync('$share/dist/d/#', { qos: 1 })
        clients.push(member)
      }
      const pub = await connect(broker.mqttUrl, { clientId: 'dist-pub' })
      clients.push(pub)
      let next = 0
      const worker = async (): Promise<void> => {
        while (next < MESSAGES) {
          const n = next++
          await pub.publishAsync(`d/${n % TOPICS}`, String(n), { qos: 1 })
        }
      }
      await Promise.all(Array.from({ length: 50 }, worker))
      await waitFor(() => got.reduce((sum, g) => sum + g.length, 0) >= MESSAGES, 20_000, `${MESSAGES} deliveries`)
      const counts = got.map(g => g.length)
      process.stdout.write(`# ${strategy}: per member ${counts.join(' / ')}\n`)
      const all = got.flat().map(r => r.payload)
      assert.equal(all.length, MESSAGES, 'none twice')
      assert.equal(new Set(all).size, MESSAGES, 'each once')
      const topicsOf = got.map(g => new Set(g.map(r => r.topic)))
      switch (strategy) {
        case 'round_robin': assert.ok(counts.every(c => c === MESSAGES / MEMBERS), 'exactly even'); break
        case 'random': assert.ok(counts.every(c => Math.abs(c - MESSAGES / MEMBERS) < MESSAGES / MEMBERS * 0.15), 'within 15% of even'); break
        // One member is preferred (sticky; hash_clientid: there is one publisher); when its
        // in-flight window is full the message goes to one with room (the rule for every strategy).
        case 'sticky':
        // Twice a fair share, not a majority: on a loaded machine the preferred member's window is full more often.
        case 'hash_clientid': assert.ok(Math.max(...counts) > 2 * MESSAGES / MEMBERS, `the preferred member takes twice a fair share: ${counts.join('/')}`); break
        case 'hash_topic': assert.ok(topicsOf.every((t, i) => topicsOf.every((u, j) => i === j || [...t].every(x => !u.has(x)))), 'each topic on one member'); break
        default: assert.ok(counts.filter(c => c > 0).length >= 2, 'spread by room')
      }
    } finally {
      await Promise.all(clients.map(c => c.endAsync()))
      await broker.stop()
    }
  })
}
