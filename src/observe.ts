// Logs and counts the client lifecycle: connects, disconnects with their reason,
// refused connections and connection errors. Nothing here runs per message except
// the received-messages counter (and a trace line when trace is on).
import type { Aedes, AedesPublishPacket, Client } from 'aedes'
import { connectionInfo } from './connection.js'
import type { Logger } from './logger.js'
import type { CoreMetrics } from './metrics.js'
import { RepeatLimiter, type RepeatLimits } from './repeat-limiter.js'

const CONNACK_REASONS: Record<number, string> = {
  1: 'unacceptable_protocol', 2: 'identifier_rejected', 3: 'server_unavailable', 4: 'bad_credentials', 5: 'not_authorized', 6: 'keepalive_limit'
}

/** A bounded label for an error, so /metrics does not grow with every message text. */
export function errorReason (err: Error & { errorCode?: number, code?: string, protocolError?: boolean }): string {
  if (err.errorCode && CONNACK_REASONS[err.errorCode]) return CONNACK_REASONS[err.errorCode]
  const m = err.message
  if (m.startsWith('connect did not arrive')) return 'connect_timeout'
  if (m.startsWith('keep alive timeout')) return 'keepalive_timeout'
  if (m.startsWith('packet too large')) return 'packet_too_large'
  if (m.startsWith('unfinished packets of all clients')) return 'buffered_bytes_limit'
  if (m.startsWith('partial packet')) return 'partial_packet_timeout'
  if (m.startsWith('slow client')) return 'slow_client'
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return 'connection_reset'
  // The protocol core's ProtocolError (src/protocol/connection.ts): the parser's and the handlers' checks.
  if (err.protocolError === true) return 'protocol_error'
  if (m.includes('not allowed') || m.includes('topic') || m.includes('Invalid') || m.includes('invalid') ||
      m.includes('must') || m.includes('Malformed') || m.includes('Cannot parse') || m.includes('Unknown') || m.includes('exceeded')) {
    return 'protocol_error'
  }
  return 'error'
}

export function observeBroker (broker: Aedes, metrics: CoreMetrics, log: Logger, repeats: RepeatLimits): void {
  const reasons = new WeakMap<Client, string>()
  const warnings = new RepeatLimiter(log, repeats)

  broker.on('clientReady', client => {
    const { transport, remoteAddress, username } = connectionInfo(client)
    metrics.connects.inc({ transport })
    log.info({ clientId: client.id, remote: remoteAddress, transport, protocol: client.version, clean: client.clean, username }, 'client connected')
  })

  broker.on('clientDisconnect', client => {
    const normal = (client as Client & { disconnected?: boolean }).disconnected === true
    const reason = normal ? 'client_disconnect' : (reasons.get(client) ?? 'connection_lost')
    metrics.disconnects.inc({ reason })
    log.info({ clientId: client.id, remote: connectionInfo(client).remoteAddress, reason }, 'client disconnected')
  })


  const onError = (client: Client, err: Error & { errorCode?: number }): void => {
    // One line per connection: writes still pending when a socket closes each fail again.
    if (reasons.has(client)) return
    const reason = errorReason(err)
    reasons.set(client, reason)
    const { remoteAddress } = connectionInfo(client)
    const fields = { clientId: client.id ?? undefined, remote: remoteAddress, reason, error: err.message }
    if (err.errorCode) {
      metrics.protocolErrors.inc({ reason })
      warnings.warn(fields, 'connection refused')
    } else if (reason === 'slow_client') {
      warnings.warn(fields, 'slow client disconnected')
    } else if (reason === 'connection_reset' || reason === 'keepalive_timeout' || reason === 'connect_timeout') {
      log.info(fields, 'connection closed')
      if (reason !== 'connection_reset') metrics.protocolErrors.inc({ reason })
    } else {
      metrics.protocolErrors.inc({ reason })
      warnings.warn(fields, 'connection closed on error')
    }
  }
  broker.on('clientError', onError)
  broker.on('connectionError', onError)

  broker.on('publish', (packet: AedesPublishPacket, client: Client | null) => {
    if (!client) return
    metrics.messagesIn.inc(packet.qos)
    if (log.isLevelEnabled('trace')) {
      log.trace({ clientId: client.id, topic: packet.topic, qos: packet.qos, retain: packet.retain, payload: packet.payload.toString() }, 'message received')
    }
  })
}
