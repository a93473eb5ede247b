// Per-client flow control for outgoing messages, on top of Aedes (which has none):
//  - at most --max-inflight QoS 1/2 messages sent and not yet acknowledged;
//  - behind them, up to --max-queued messages wait in memory;
//  - when that queue is full too, QoS 1/2 deliveries to the client block the publishers
//    (their PUBACK waits) instead of being dropped, and a client that acknowledges nothing
//    for --slow-client-timeout while its queue is full is disconnected (a persistent
//    session keeps its messages in storage and gets them on reconnect);
//  - QoS 0: when more than --max-queued-bytes wait in the client's socket, deliveries to it
//    wait (up to a second) for it to drain; a client that does not drain in that time has
//    its QoS 0 messages dropped, and counted, until it catches up.
// Deliveries never hold the broker's router while a socket is slow: the router's
// callback returns as soon as the message is written or queued.
//
// It also replaces Aedes's duplicate rule. Aedes drops a delivery whose broker counter is
// not higher than the last one the client received from that broker; but messages reach
// the router out of counter order whenever their storage writes finish out of order
// (LevelDB), a QoS 0 message passes a QoS 1 one, or the cluster route delays QoS 1/2, and
// then acknowledged messages were dropped for every subscriber (test/broker/ordering).
// The duplicates that rule exists for are one message matching several subscriptions of
// the same client: those deliveries arrive one right after the other, so Swallow skips a
// delivery equal to the previous one for that client.
//
// QoS 0 deliveries, and QoS 1/2 deliveries to clean sessions, are written by
// src/deliveries.ts (one Buffer each, QoS 0 encoded once per message), not by Aedes.
import type { AedesPublishPacket, Client } from 'aedes'
import type { Logger } from './logger.js'
import type { CoreMetrics } from './metrics.js'
import { deliverQoS0, deliverQoS12, deliversDirectly } from './deliveries.js'
import { deliveryQoS, type GrantedSubscriptions } from './granted-qos.js'
import { Fifo } from './protocol/fifo.js'

export interface FlowOptions {
  maxInflight: number
  maxQueued: number
  maxQueuedBytes: number
  slowClientTimeout: number
}

type Deliver = (packet: AedesPublishPacket, cb: () => void) => void

interface ClientDeliveries {
  deliverQoS: Deliver
  deliver0: Deliver
}

class ClientFlow {
  inflight = 0
  /** The last message handed to this client (broker id + counter), for overlapping subscriptions. */
  lastBrokerId: string | undefined = undefined
  lastCounter = 0
  /** Set while Aedes decides, synchronously, whether a QoS 1/2 delivery goes out. */
  sendingQoS = false
  readonly queue = new Fifo<AedesPublishPacket>()
  readonly blocked = new Fifo<{ packet: AedesPublishPacket, cb: () => void }>()
  blockedTimer: NodeJS.Timeout | null = null
  /** Date.now() of the last acknowledgement while blocked (the slow-client clock). */
  lastAckAt = 0
  droppingQoS0 = false
  /** Router callbacks held while this client's socket is over --max-queued-bytes. */
  readonly drainWaiters: Array<() => void> = []
  /** When the last queue-full warning was logged: at most one a minute per client. */
  warnedAt = 0
  warnedThisEpisode = false
  constructor (readonly client: Client, readonly deliverQoS: Deliver) {}
}

function noop (): void {}

/** How long QoS 0 deliveries to a client over --max-queued-bytes wait for it before they are dropped. */
const QOS0_WAIT_MS = 1000

/** Stands in for Aedes's per-client `duplicates` map: every counter reads as new. */
const NO_COUNTER_DEDUPE = new Proxy({}, { get: () => 0, set: () => true, deleteProperty: () => true })

/** True when the packet is the one this client was just handed (a second matching subscription). */
function repeatsLast (flow: ClientFlow, packet: AedesPublishPacket): boolean {
  const id = packet.brokerId
  if (!id) return false // retained messages sent on subscribe carry none and are never duplicates
  if (id === flow.lastBrokerId && packet.brokerCounter === flow.lastCounter) return true
  flow.lastBrokerId = id
  flow.lastCounter = packet.brokerCounter
  return false
}

export class FlowControl {
  private readonly flows = new WeakMap<Client, ClientFlow>()

  constructor (private readonly opts: FlowOptions, private readonly metrics: CoreMetrics, private readonly log: Logger) {}

  /** Wraps the client's delivery functions; call before the client subscribes to anything. */
  attach (client: Client): void {
    const deliveries = client as unknown as ClientDeliveries & { duplicates: object }
    const flow = new ClientFlow(client, deliveries.deliverQoS)
    this.flows.set(client, flow)
    deliveries.duplicates = NO_COUNTER_DEDUPE
    const subscriptions = (client as unknown as { subscriptions: GrantedSubscriptions }).subscriptions
    deliveries.deliver0 = (packet, cb) => {
      if (packet.qos > 0) {
        // A QoS 1/2 message reaching a QoS 0 subscription: another matching subscription may
        // grant more, and then it goes out at that QoS (MQTT-3.3.5-1); the repeat is skipped.
        const qos = deliveryQoS(subscriptions, packet.topic, packet.qos)
        if (qos > 0) {
          packet.qos = qos as 1 | 2
          return deliveries.deliverQoS(packet, cb)
        }
      }
      if (repeatsLast(flow, packet)) return cb() // a second matching subscription: already handed over
      if (client.conn.writableLength <= this.opts.maxQueuedBytes) {
        flow.droppingQoS0 = false
        deliverQoS0(client, packet)
        return cb()
      }
      if (flow.droppingQoS0) {
        this.metrics.dropped.inc({ reason: 'qos0_queue_full' })
        return cb()
      }
      // Over the limit: first slow the publishers down (the router waits for this client's
      // socket to drain); only a client that does not drain within QOS0_WAIT_MS gets its
      // QoS 0 messages dropped, so a burst costs no messages and a stuck client stalls
      // the router once per episode, not once per message.
      deliverQoS0(client, packet)
      this.waitForDrain(flow, cb)
    }
    deliveries.deliverQoS = (packet, cb) => {
      if (packet.qos === 0) return deliveries.deliver0(packet, cb)
      // A live message reaches this function only through a subscription granted QoS 1 or 2
      // (Aedes routes QoS 0 ones to deliver0), so a QoS 1 message goes out at QoS 1 without
      // looking at the other subscriptions. Retained messages sent on SUBSCRIBE carry no
      // brokerId and are capped by the search (MQTT-3.8.4-6).
      let qos = packet.qos === 1 && packet.brokerId ? 1 : deliveryQoS(subscriptions, packet.topic, packet.qos)
      // Aedes's own path (persistent sessions) downgrades to an exact-topic subscription's QoS
      // after this point; follow it here, or a QoS 0 write would hold an in-flight slot forever.
      const exact = subscriptions[packet.topic]?.qos
      if (exact !== undefined && exact < qos && !deliversDirectly(client)) qos = exact
      if (qos < packet.qos) {
        packet.qos = qos as 0 | 1 | 2 // each subscriber's packet is its own copy (Aedes's handlePacketSubscription)
        if (qos === 0) return deliveries.deliver0(packet, cb)
      }
      if (repeatsLast(flow, packet)) return cb()
      if (flow.inflight < this.opts.maxInflight && flow.queue.length === 0) {
        this.send(flow, packet)
      } else if (flow.queue.length < this.opts.maxQueued) {
        flow.queue.push(packet)
      } else {
        this.block(flow, packet, cb)
        return
      }
      cb()
    }
    client.conn.once('close', () => this.release(flow))
  }

  /** The last authorizeForward step: counts what actually leaves, and in-flight QoS 1/2. */
  readonly countForward = (client: Client, packet: AedesPublishPacket): AedesPublishPacket => {
    const flow = this.flows.get(client)
    if (flow === undefined) return packet // a protocol-core connection counts its own deliveries
    if (flow.sendingQoS) {
      flow.inflight++
      this.metrics.messagesOut.inc(packet.qos)
    } else {
      this.metrics.messagesOut.inc(0)
    }
    return packet
  }

  /** A PUBACK or PUBCOMP from the client frees one in-flight slot. */
  acked (client: Client): void {
    const flow = this.flows.get(client)
    if (!flow) return
    if (flow.inflight > 0) flow.inflight--
    // Progress: the slow-client clock measures time without any acknowledgement (read by
    // the timer when it fires: refreshing the timer on every ack cost ~3% in fan-in).
    if (flow.blockedTimer !== null) flow.lastAckAt = Date.now()
    this.pump(flow)
  }

  private waitForDrain (flow: ClientFlow, cb: () => void): void {
    flow.drainWaiters.push(cb)
    if (flow.drainWaiters.length > 1) return
    const conn = flow.client.conn
    const release = (): void => {
      clearTimeout(timer)
      conn.removeListener('drain', release)
      for (const waiter of flow.drainWaiters.splice(0)) waiter()
    }
    const timer = setTimeout(() => {
      flow.droppingQoS0 = true
      this.log.warn({ clientId: flow.client.id, queuedBytes: conn.writableLength }, 'client reads too slowly: dropping QoS 0 messages to it (--max-queued-bytes)')
      release()
    }, QOS0_WAIT_MS)
    conn.once('drain', release)
  }

  /** Releases everything waiting for a client that is gone, so publishers never stay blocked. */
  release (flow: ClientFlow): void {
    flow.queue.drain()
    if (flow.blockedTimer) clearTimeout(flow.blockedTimer)
    flow.blockedTimer = null
    for (const { cb } of flow.blocked.drain()) cb()
    for (const cb of flow.drainWaiters.splice(0)) cb()
  }

  private send (flow: ClientFlow, packet: AedesPublishPacket): void {
    flow.sendingQoS = true
    try {
      if (deliversDirectly(flow.client)) deliverQoS12(flow.client, packet)
      else flow.deliverQoS(packet, noop)
    } finally {
      flow.sendingQoS = false
    }
  }

  private pump (flow: ClientFlow): void {
    while (flow.inflight < this.opts.maxInflight && flow.queue.length > 0) {
      this.send(flow, flow.queue.shift() as AedesPublishPacket)
    }
    while (flow.blocked.length > 0 && flow.queue.length < this.opts.maxQueued) {
      const { packet, cb } = flow.blocked.shift() as { packet: AedesPublishPacket, cb: () => void }
      flow.queue.push(packet)
      cb()
    }
    if (flow.blocked.length === 0 && flow.blockedTimer) {
      clearTimeout(flow.blockedTimer)
      flow.blockedTimer = null
      if (flow.warnedThisEpisode) this.log.info({ clientId: flow.client.id }, 'client caught up: its queue has room again')
      flow.warnedThisEpisode = false
    }
    // Queue drained by acks while blocked ones moved in: keep the window full.
    while (flow.inflight < this.opts.maxInflight && flow.queue.length > 0) {
      this.send(flow, flow.queue.shift() as AedesPublishPacket)
    }
  }

  private block (flow: ClientFlow, packet: AedesPublishPacket, cb: () => void): void {
    flow.blocked.push({ packet, cb })
    this.metrics.queueFull.inc()
    if (flow.blockedTimer) return
    // A big backlog (a # subscription to many retained messages) fills and drains the queue
    // thousands of times: the metric counts every time, the log says it once a minute.
    const now = Date.now()
    if (now - flow.warnedAt >= 60_000) {
      flow.warnedAt = now
      flow.warnedThisEpisode = true
      this.log.warn({ clientId: flow.client.id, inflight: flow.inflight, queued: flow.queue.length },
        'client queue full (--max-queued): publishers to its topics wait until it catches up')
    }
    flow.lastAckAt = now
    this.armSlowClientTimer(flow, this.opts.slowClientTimeout)
  }

  private armSlowClientTimer (flow: ClientFlow, delay: number): void {
    flow.blockedTimer = setTimeout(() => {
      const quiet = Date.now() - flow.lastAckAt
      if (quiet < this.opts.slowClientTimeout) return this.armSlowClientTimer(flow, this.opts.slowClientTimeout - quiet)
      this.log.warn({ clientId: flow.client.id, timeoutMs: this.opts.slowClientTimeout },
        'disconnecting client that acknowledged nothing for --slow-client-timeout while its queue was full')
      this.metrics.disconnects.inc({ reason: 'slow_client' })
      this.release(flow)
      flow.client.close()
    }, delay)
    flow.blockedTimer.unref()
  }
}
