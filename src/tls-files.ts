// TLS certificate files: loaded and checked at start (a bad file is a ConfigError naming
// it, exit 2), and reloaded on SIGHUP into the running servers without dropping anyone
// (when they changed).
import { readFileSync } from 'node:fs'
import { createSecureContext, type SecureContextOptions } from 'node:tls'
import type { Config } from './config.js'
import { ConfigError } from './errors.js'
import type { ReloadPart } from './reload-summary.js'

export interface TlsSettings {
  cert: string
  key: string
  ca: string | null
  requireClientCert: boolean
}

/** The TLS settings, or null when no certificate is configured (TLS listeners stay off). */
export function tlsSettings (config: Config): TlsSettings | null {
  if (config.tlsCert === null && config.tlsKey === null) {
    if (config.tlsCa !== null || config.tlsRequireClientCert) {
      throw new ConfigError('--tls-ca and --tls-require-client-cert need --tls-cert and --tls-key')
    }
    return null
  }
  if (config.tlsCert === null) throw new ConfigError('--tls-key needs --tls-cert FILE (the server certificate)')
  if (config.tlsKey === null) throw new ConfigError('--tls-cert needs --tls-key FILE (the private key of that certificate)')
  if (config.tlsRequireClientCert && config.tlsCa === null) {
    throw new ConfigError('--tls-require-client-cert needs --tls-ca FILE (the CA that signs client certificates)')
  }
  return { cert: config.tlsCert, key: config.tlsKey, ca: config.tlsCa, requireClientCert: config.tlsRequireClientCert }
}

function readPem (flag: string, file: string): Buffer {
  let data: Buffer
  try {
    data = readFileSync(file)
  } catch (err) {
    throw new ConfigError(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (!data.includes('-----BEGIN ')) throw new ConfigError(`${flag}: ${file} is not a PEM file (no -----BEGIN line)`)
  return data
}

/** Reads and checks the files; throws ConfigError naming the file that is wrong. */
/** What the TLS servers are given: the files' contents and whether to ask for a client certificate. */
export interface TlsOptions {
  cert: Buffer
  key: Buffer
  ca: Buffer | undefined
  requestCert: boolean
  rejectUnauthorized: boolean
}

export function loadTlsOptions (s: TlsSettings): TlsOptions {
  const cert = readPem('--tls-cert', s.cert)
  const key = readPem('--tls-key', s.key)
  const ca = s.ca ? readPem('--tls-ca', s.ca) : undefined
  const options = { cert, key, ca }
  try {
    createSecureContext({ key })
  } catch (err) {
    throw new ConfigError(`--tls-key: ${s.key} is not a usable private key: ${(err as Error).message}`)
  }
  try {
    createSecureContext({ cert })
  } catch (err) {
    throw new ConfigError(`--tls-cert: ${s.cert} is not a usable certificate: ${(err as Error).message}`)
  }
  if (ca) {
    try {
      createSecureContext({ ca })
    } catch (err) {
      throw new ConfigError(`--tls-ca: ${s.ca} is not a usable CA certificate: ${(err as Error).message}`)
    }
  }
  try {
    createSecureContext(options)
  } catch (err) {
    throw new ConfigError(`--tls-key: ${s.key} does not match the certificate in ${s.cert} (${(err as Error).message})`)
  }
  return { ...options, requestCert: s.requireClientCert, rejectUnauthorized: s.requireClientCert }
}

export interface SecureServer {
  setSecureContext: (options: SecureContextOptions) => void
}

/**
 * SIGHUP for the certificates: re-reads the files and, when they changed, puts them into
 * every TLS server; bad files keep the certificates in force.
 */
export function tlsReloader (s: TlsSettings, initial: TlsOptions, servers: readonly SecureServer[]): () => ReloadPart {
  let inForce = initial
  let broken = false
  return () => {
    let next: TlsOptions
    try {
      next = loadTlsOptions(s)
    } catch (err) {
      broken = true
      return { name: 'tls', outcome: 'failed', problem: (err as Error).message }
    }
    const outcome = broken ? 'repaired' : sameFiles(next, inForce) ? 'unchanged' : 'reloaded'
    broken = false
    if (outcome === 'unchanged') return { name: 'tls', outcome }
    for (const server of servers) server.setSecureContext(next)
    inForce = next
    return { name: 'tls', outcome }
  }
}

function sameFiles (a: TlsOptions, b: TlsOptions): boolean {
  const same = (x: Buffer | undefined, y: Buffer | undefined): boolean => x === undefined || y === undefined ? x === y : x.equals(y)
  return same(a.cert, b.cert) && same(a.key, b.key) && same(a.ca, b.ca)
}
