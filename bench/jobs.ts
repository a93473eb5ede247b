// The messages exchanged between the harness (parent) and its generator processes.

export interface Endpoint { host: string, port: number }

export interface PublishJob extends Endpoint {
  role: 'publish'
  conns: number
  /** Index of this process's first publisher; publisher i publishes payloads tagged i. */
  indexBase: number
  /** Topic of publisher i; `{i}` is replaced by the publisher index. */
  topic: string
  qos: 0 | 1 | 2
  perConn: number
  /** Unacknowledged QoS 1/2 messages allowed per connection. */
  window: number
  payloadSize: number
  /** Stop sending after this long even if perConn is not reached. */
  capMs: number
  /** Messages/s per connection; 0 sends as fast as the socket and window allow. */
  rate: number
  ackTimeoutMs: number
}

export interface SubscribeJob extends Endpoint {
  role: 'subscribe'
  conns: number
  idBase: number
  filter: string
  qos: 0 | 1 | 2
  /** Publisher indices are 0..pubs-1, each sending at most perPub messages. */
  pubs: number
  perPub: number
  latency: boolean
  /** After 'finish', give up waiting once nothing arrived for this long. */
  idleMs: number
}

export interface IdleJob extends Endpoint {
  role: 'idle'
  n: number
  idBase: number
  keepalive: number
  concurrency: number
  clean: boolean
  timeoutMs: number
}

export type Job = PublishJob | SubscribeJob | IdleJob

export type Command =
  | { cmd: 'setup', job: Job }
  | { cmd: 'start' }
  | { cmd: 'finish', expected: number[] }
  | { cmd: 'storm' }
  | { cmd: 'close' }

export interface CpuReport { cpuMs: number, wallMs: number }

export interface PublishResult extends CpuReport {
  sent: number[]
  /** Base64 bitsets: bit seq set when the broker acknowledged message seq (PUBACK / PUBREC). */
  acked: string[]
  ackedCount: number
  firstSendNs: number
  lastSendNs: number
  lastAckNs: number
  unacked: number
  /** Publisher connections the broker closed before they finished. */
  disconnected: number
}

export interface SubscribeResult extends CpuReport {
  /** Per connection: base64 bitset over pubs*perPub messages received. */
  received: string[]
  unique: number[]
  duplicates: number
  firstRecvNs: number
  lastRecvNs: number
  /** hdr-histogram-js compressed base64, latency in microseconds (when job.latency). */
  histogram: string | null
}

export interface ConnectResult extends CpuReport {
  connected: number
  failed: number
  startNs: number
  lastNs: number
  /** Connect (TCP + CONNECT/CONNACK) durations in microseconds, compressed base64. */
  histogram: string
}

export type Reply =
  | { type: 'ready' }
  | { type: 'result', result: PublishResult | SubscribeResult | ConnectResult }
  | { type: 'error', message: string }
