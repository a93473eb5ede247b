// --auth-cert-identity cn: the verified TLS client certificate's Common Name becomes the
// username (Mosquitto's use_identity_as_username). Only a certificate the TLS layer
// verified against the CA counts (socket.authorized); an unverified one is no identity.
import type { IncomingMessage } from 'node:http'
import { TLSSocket } from 'node:tls'

export type CertIdentityMode = 'none' | 'cn'

/** The socket a client's certificate lives on: the MQTT/TLS stream, or the WSS request's socket. */
export function clientTlsSocket (client: { conn?: unknown, req?: unknown }): TLSSocket | null {
  if (client.conn instanceof TLSSocket) return client.conn
  const socket = (client.req as IncomingMessage | undefined)?.socket
  return socket instanceof TLSSocket ? socket : null
}

/** The CN of the verified peer certificate, or null (no TLS, no or unverified certificate, no/many CNs). */
export function certificateCommonName (socket: TLSSocket | null): string | null {
  if (socket === null || !socket.authorized) return null
  const cert = socket.getPeerCertificate()
  const cn: unknown = cert?.subject?.CN
  if (typeof cn !== 'string' || cn === '') return null // several CN attributes come back as an array
  return cn
}
