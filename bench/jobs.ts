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

/** Device i logs in as `${userPrefix}${i}` / `${passwordPrefix}${i}` (i = idBase + its index). */
export interface Credentials { userPrefix: string, passwordPrefix: string }

export interface IdleJob {
  role: 'idle'
  /** Device i connects to endpoints[i % endpoints.length] (i = idBase + its index): alternates over a cluster's nodes. */
  endpoints: Endpoint[]
  n: number
  idBase: number
  keepalive: number
  concurrency: number
  clean: boolean
  timeoutMs: number
  credentials?: Credentials
}

export type Job = PublishJob | SubscribeJob | IdleJob

export type Command =
  | { cmd: 'setup', job: Job }
  | { cmd: 'start' }
  /** `expectedTotal`: the connections share the messages (a shared subscription): done when they hold that many together. */
  | { cmd: 'finish', expected: number[], expectedTotal?: number }
  | { cmd: 'storm' }
  /** Every device disconnects cleanly, waits settleMs, and connects again (a warm round). */
  | { cmd: 'reconnect', settleMs: number }
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
  /** Not connected: refused (below) or timed out / reset. */
  failed: number
  /** Answered with a CONNACK return code other than 0 (e.g. 4 bad username or password, 5 not authorised). */
  refused: number
  startNs: number
  lastNs: number
  /** Connect (TCP + CONNECT/CONNACK) durations in microseconds, compressed base64. */
  histogram: string
}

export type Reply =
  | { type: 'ready' }
  | { type: 'result', result: PublishResult | SubscribeResult | ConnectResult }
  | { type: 'error', message: string }
