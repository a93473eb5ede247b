// The route of one message once its publisher may send it (a client's PUBLISH after the
// authorizePublish hooks, or a will), in this order:
//   1. stamp it with the broker's id and counter: its identity in offline queues and on the
//      other nodes of a cluster;
//   2. retained store (retain flag set): durable before anything else happens to it;
//   3. offline queues (QoS 1/2): stored in the queue of every persistent session with a
//      matching stored subscription, with the time (queued-at.ts);
//   4. the router: this node's live subscribers and shared groups, and the other nodes;
//   5. the published hooks (the log bridge forgets its packet id there) and the 'publish' event.
// `done` is called after step 5; the publisher is acknowledged then, so nothing acknowledged
// is anywhere but stored. These are the steps and the order of Aedes's broker.publish (the
// plugins' own publishes still take that path), without its per-message series objects and
// without a storage call when no stored subscription matches.
//
// Step 4 of QoS 1/2 messages runs in the order their step 3 began, broker-wide, however the
// storage finishes: a live subscriber then gets a publisher's pipelined messages in the order
// they were sent (MQTT-4.6.0-6, Ordered Topic), also when only some of them had to be stored.
import type { Aedes, Client } from 'aedes'
import { publishedHook, routerOf, stampedPacket } from '../aedes-seam.js'
import { Fifo } from './fifo.js'
import { queuedCopy } from './queued-at.js'
import type { Persistence, RoutedPacket, TopicSubscription } from './types.js'

type Done = (err?: Error | null) => void

interface Pending {
  packet: RoutedPacket
  client: Client | null
  done: Done
  /** Step 3 finished: undefined while it runs, null when it succeeded. */
  outcome: Error | null | undefined
}

export class MessageRoute {
  /** QoS 1/2 messages from step 3 on, in the order it began for them. */
  private readonly inOrder = new Fifo<Pending>()

  constructor (private readonly broker: Aedes, private readonly persistence: Persistence) {}

  publish (message: RoutedPacket, client: Client | null, done: Done): void {
    const packet = stampedPacket(this.broker, message)
    if (client !== null) packet.clientId = client.id
    if (!packet.retain) return this.afterRetained(packet, client, done)
    this.persistence.storeRetained(packet).then(() => this.afterRetained(packet, client, done), done)
  }

  private afterRetained (packet: RoutedPacket, client: Client | null, done: Done): void {
    if (packet.qos === 0) return this.routeAndAnnounce(packet, client, done)
    const pending: Pending = { packet, client, done, outcome: undefined }
    this.inOrder.push(pending)
    this.persistence.subscriptionsByTopic(packet.topic)
      .then(subs => {
        const queues = storedQueuesFor(packet.topic, subs)
        if (queues.length === 0) return undefined
        // The time rides on the routed packet too: a live delivery's stored record keeps it.
        packet.receivedAt = Date.now()
        return this.persistence.outgoingEnqueueCombi(queues, queuedCopy(packet, packet.receivedAt))
      })
      .then(() => this.stored(pending, null), (err: Error) => this.stored(pending, err))
  }

  private stored (pending: Pending, outcome: Error | null): void {
    pending.outcome = outcome
    for (let next = this.inOrder.peek(); next !== undefined && next.outcome !== undefined; next = this.inOrder.peek()) {
      this.inOrder.shift()
      if (next.outcome !== null) next.done(next.outcome)
      else this.routeAndAnnounce(next.packet, next.client, next.done)
    }
  }

  private routeAndAnnounce (packet: RoutedPacket, client: Client | null, done: Done): void {
    routerOf(this.broker).emit(packet, () => {
      publishedHook(this.broker)(packet, client, done)
      this.broker.emit('publish', packet, client)
    })
  }
}

/**
 * The stored subscriptions whose sessions get the message. A wildcard at the first level
 * does not match a topic beginning with '$' (MQTT-4.7.2-1); the persistence's index does
 * not know that rule.
 */
function storedQueuesFor (topic: string, subs: TopicSubscription[]): TopicSubscription[] {
  if (topic.charCodeAt(0) !== 36 /* $ */) return subs
  return subs.filter(sub => sub.topic.charCodeAt(0) !== 43 /* + */ && sub.topic.charCodeAt(0) !== 35 /* # */)
}
