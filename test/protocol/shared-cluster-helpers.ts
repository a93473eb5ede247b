// Shared-group members on cluster nodes, for the cluster group tests (shared-cluster.test.ts,
// shared-cluster-strategies.test.ts).
import type { BrokerProcess } from '../helpers/broker.js'
import { collect, connect, connect5, type MqttClient, type Received } from '../helpers/mqtt.js'

export interface Member { name: string, client: MqttClient, got: Received[] }

/** Members alternating MQTT 5.0 and 3.1.1, each on the node given for it; `label` names a node (A, B...). */
export async function members (filter: string, nodes: BrokerProcess[], label: (node: BrokerProcess) => string): Promise<Member[]> {
  const out: Member[] = []
  for (const [i, node] of nodes.entries()) {
    const client = i % 2 === 0 ? await connect5(node.mqttUrl) : await connect(node.mqttUrl)
    client.on('error', () => {})
    const got = collect(client)
    await client.subscribeAsync(filter, { qos: 1 })
    out.push({ name: `${label(node)}${i}/v${i % 2 === 0 ? 5 : 3}`, client, got })
  }
  return out
}

export const payloadsOf = (group: Member[], pattern: RegExp): string[] => group.flatMap(m => m.got.map(r => r.payload).filter(p => pattern.test(p)))
export const distribution = (group: Member[], pattern: RegExp): string => group.map(m => `${m.name}=${m.got.filter(r => pattern.test(r.payload)).length}`).join(' ')
