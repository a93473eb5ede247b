// The packets a connection has parsed and not yet handled, and the order of its replies.
//  - PUBLISH at QoS 0 and 1 is pipelined: up to PIPELINE_LIMIT run at once, each waiting for
//    its hooks and storage. Handled one by one, each PUBLISH of a publisher with a window of
//    10 waited for the previous one's storage round trip, and every PUBACK left in a write
//    system call of its own (fan-in 200->1 cost 2.2x the CPU per message of the old path).
//    They start in arrival order (the publish route hands them to the router in the order
//    their storage began, src/protocol/route.ts, so routing keeps that order), and their
//    replies are written in arrival order too (MQTT-4.6.0-2), whatever order they finish in.
//  - Every other packet (a QoS 2 PUBLISH, SUBSCRIBE, DISCONNECT, ...) waits until the
//    pipelined ones are done, and runs alone: what it changes never races a PUBLISH.
//  - The socket is paused only while INBOX_LIMIT packets wait (each pause and resume of a
//    socket is a system call), not per packet.
import type { Packet } from 'mqtt-packet'
import { Fifo } from './fifo.js'

/** A handler's outcome: an error ends the connection; `reply` is written in order. */
export type HandlerDone = (err?: Error | null, reply?: object | null) => void

export interface InboxHost {
  readonly closed: boolean
  handle: (packet: Packet, done: HandlerDone) => void
  writePacket: (packet: object) => boolean
  fail: (err: Error) => void
  pauseReading: () => void
  resumeReading: () => void
}

interface Reply { packet: object | null, ready: boolean }

/** Parsed packets that may wait before the socket is paused. */
const INBOX_LIMIT = 64
/** Pipelined PUBLISHes handled at once. */
const PIPELINE_LIMIT = 64

const pipelines = (packet: Packet): boolean => packet.cmd === 'publish' && packet.qos < 2

export class Inbox {
  private readonly waiting = new Fifo<Packet>()
  private readonly replies = new Fifo<Reply>()
  private pipelined = 0
  private alone = false
  private draining = false
  private readingPaused = false
  /** Shutdown began: what is being handled finishes, nothing more starts. */
  private stopped = false

  constructor (private readonly host: InboxHost) {}

  push (packet: Packet): void {
    this.waiting.push(packet)
    this.drain()
    if (this.waiting.length >= INBOX_LIMIT && !this.readingPaused) {
      this.readingPaused = true
      this.host.pauseReading()
    }
  }

  stop (): void {
    this.stopped = true
  }

  private drain (): void {
    if (this.draining) return
    this.draining = true
    while (!this.host.closed && !this.stopped && !this.alone && this.waiting.length > 0) {
      const packet = this.waiting.peek() as Packet
      if (pipelines(packet)) {
        if (this.pipelined >= PIPELINE_LIMIT) break
        this.waiting.shift()
        this.startPipelined(packet)
      } else {
        if (this.pipelined > 0) break
        this.waiting.shift()
        this.startAlone(packet)
      }
    }
    this.draining = false
    if (this.readingPaused && this.waiting.length < INBOX_LIMIT / 2 && !this.stopped && !this.host.closed) {
      this.readingPaused = false
      this.host.resumeReading()
    }
  }

  private startPipelined (packet: Packet): void {
    const reply: Reply = { packet: null, ready: false }
    this.replies.push(reply)
    this.pipelined++
    this.host.handle(packet, (err, answer) => {
      this.pipelined--
      if (err) return this.host.fail(err)
      reply.packet = answer ?? null
      reply.ready = true
      this.writeReadyReplies()
      this.drain()
    })
  }

  private startAlone (packet: Packet): void {
    this.alone = true
    this.host.handle(packet, (err, answer) => {
      this.alone = false
      if (err) return this.host.fail(err)
      if (answer != null) this.host.writePacket(answer)
      this.drain()
    })
  }

  private writeReadyReplies (): void {
    for (let head = this.replies.peek(); head?.ready === true; head = this.replies.peek()) {
      this.replies.shift()
      if (head.packet !== null) this.host.writePacket(head.packet)
    }
  }
}
