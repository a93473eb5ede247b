// The retained messages for a new subscription, as an object-mode Readable the SUBSCRIBE
// handler (src/protocol/handlers/subscribe.ts) reads with for await. It walks the index lazily and reads payloads a batch at a time
// (256), only when the reader wants more: `#` over a million topics holds one batch in memory,
// and each batch is a separate turn of the event loop, so other clients keep being served.
import { Readable } from 'node:stream'
import type { Logger } from '../../src/logger.js'
import { topicMatches } from '../../src/topics.js'
import type { MessageExtras } from '../../src/protocol/message-extras.js'
import { openPayload, type RetainedBackend } from './backend.js'
import { TrieMatcher, type TopicTrie, type TrieNode } from './trie.js'

const BATCH = 256

export interface RetainedPacket extends MessageExtras {
  cmd: 'publish'
  topic: string
  payload: Buffer
  qos: 0 | 1 | 2
  retain: true
  dup: false
}

/** The subscribing Aedes client, as far as the stream needs it. */
export interface Subscriber {
  closed: boolean
  subscriptions: Record<string, { qos: number } | undefined>
  conn?: NodeJS.WritableStream & { writableLength: number }
}

export class RetainedStream extends Readable {
  private readonly matchers: TrieMatcher[]
  /** The subscribing client when known, else null (no downgrade, no early stop, no socket check). */
  private readonly subscriber: Subscriber | null
  /** Granted QoS per filter when the subscriber is known. */
  private readonly granted: number[] | null
  private current = 0
  /** For each node of the current batch, the index of the filter that found it. */
  private readonly foundBy: number[] = []
  /** Packets read from the backend and not yet pushed: the stream itself buffers only a few. */
  private ready: RetainedPacket[] = []
  private next = 0
  private reading = false
  private exhausted = false
  private done = false
  private waitingForSocket = false

  constructor (trie: TopicTrie, private readonly backend: RetainedBackend, private readonly patterns: readonly string[],
    subscriber: Subscriber | null, private readonly log: Logger, private readonly pauseAtBytes = Infinity) {
    super({ objectMode: true, highWaterMark: 16 })
    this.matchers = patterns.map(p => new TrieMatcher(trie.root, p))
    // Relied on only when it holds every one of these filters (see index.ts).
    const subs = subscriber?.subscriptions
    const known = subs !== undefined && patterns.every(p => subs[p] !== undefined)
    this.subscriber = known ? subscriber : null
    this.granted = known ? patterns.map(p => (subs[p] as { qos: number }).qos) : null
  }

  override _read (): void {
    while (!this.done) {
      // A subscriber that went away ends the stream: the rest would only be written to a closed socket.
      if (this.subscriber !== null && this.subscriber.closed) return this.end()
      if (this.next < this.ready.length) {
        // QoS 0 deliveries do not wait for the client (the core drops them past --max-queued-bytes):
        // the stream itself waits while the subscriber's socket has too much unsent.
        if (this.socketFull()) return
        if (!this.push(this.ready[this.next++])) return
        continue
      }
      if (this.exhausted) return this.end()
      // Node calls _read again only after a push: once the batch is in, carry on from here.
      if (!this.reading) {
        this.reading = true
        this.fetch().then(() => {
          this.reading = false
          this._read()
        }, err => {
          // Never an 'error' event: the subscriber gets what was read so far, and the log says why.
          this.log.error({ err, filters: this.patterns }, 'reading retained messages failed; the subscriber gets only part of them')
          this.end()
        })
      }
      return
    }
  }

  private socketFull (): boolean {
    const conn = this.subscriber?.conn
    if (conn === undefined || conn.writableLength <= this.pauseAtBytes) return false
    if (!this.waitingForSocket) {
      this.waitingForSocket = true
      const resume = (): void => {
        conn.removeListener('drain', resume)
        conn.removeListener('close', resume)
        this.waitingForSocket = false
        this._read()
      }
      conn.on('drain', resume)
      conn.on('close', resume)
    }
    return true
  }

  private end (): void {
    if (this.done) return
    this.done = true
    this.ready = []
    this.push(null)
  }

  /** Reads the next batch of packets into `ready`; skips batches that turned out empty. */
  private async fetch (): Promise<void> {
    this.ready = []
    this.next = 0
    while (this.ready.length === 0) {
      const nodes = this.nextNodes()
      if (nodes.length === 0) {
        this.exhausted = true
        return
      }
      const topics = nodes.map(n => n.topic())
      const payloads = await this.backend.payloads(topics)
      for (let i = 0; i < nodes.length; i++) {
        const bytes = payloads[i]
        if (bytes === undefined) continue // cleared since the walk found it
        const { payload, properties, messageExpiry } = openPayload(bytes)
        const packet: RetainedPacket = { cmd: 'publish', topic: topics[i], payload, qos: this.qosFor(nodes[i].qos as 0 | 1 | 2, topics[i], this.foundBy[i]), retain: true, dup: false }
        if (properties != null) packet.properties = properties
        if (messageExpiry != null) packet.messageExpiry = messageExpiry
        this.ready.push(packet)
      }
    }
  }

  private nextNodes (): TrieNode[] {
    const out: TrieNode[] = []
    this.foundBy.length = 0
    const now = Date.now()
    while (out.length < BATCH && this.current < this.matchers.length) {
      const node = this.matchers[this.current].next()
      if (node === null) {
        this.current++
        continue
      }
      if (node.expiresAt !== 0 && node.expiresAt <= now) continue
      if (this.current > 0 && this.matchedEarlier(node.topic())) continue
      out.push(node)
      this.foundBy.push(this.current)
    }
    return out
  }

  /**
   * The stored QoS, at most the QoS granted to the subscription (MQTT-3.8.4-6). Aedes only
   * downgrades when the filter is the topic itself, so `#` granted QoS 0 would get QoS 1.
   * With overlapping filters, the highest granted QoS among those that match applies.
   */
  private qosFor (stored: 0 | 1 | 2, topic: string, filter: number): 0 | 1 | 2 {
    const granted = this.granted
    if (granted === null) return stored
    let max = granted[filter]
    for (let i = filter + 1; i < granted.length && max < stored; i++) {
      if (granted[i] > max && topicMatches(this.patterns[i], topic)) max = granted[i]
    }
    return (max < stored ? max : stored) as 0 | 1 | 2
  }

  /** One SUBSCRIBE with overlapping filters gets each retained message once. */
  private matchedEarlier (topic: string): boolean {
    for (let i = 0; i < this.current; i++) if (topicMatches(this.patterns[i], topic)) return true
    return false
  }
}
