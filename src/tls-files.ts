// TLS certificate files: loaded and checked at start (a bad file is a ConfigError naming
// it, exit 2), and reloaded on SIGHUP into the running servers without dropping anyone.
import { readFileSync } from 'node:fs'
import { createSecureContext, type SecureContextOptions } from 'node:tls'
import type { Config } from './config.js'
import { ConfigError } from './errors.js'
import type { Logger } from './logger.js'

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
export function loadTlsOptions (s: TlsSettings): SecureContextOptions & { requestCert: boolean, rejectUnauthorized: boolean } {
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

/** Re-reads the files into every TLS server; keeps the old certificates when the new files are bad. */
export function reloadTls (s: TlsSettings, servers: SecureServer[], log: Logger): boolean {
  try {
    const options = loadTlsOptions(s)
    for (const server of servers) server.setSecureContext(options)
    log.info({ cert: s.cert }, 'TLS certificates reloaded')
    return true
  } catch (err) {
    log.error({ error: (err as Error).message }, 'TLS reload failed; still serving the previous certificates')
    return false
  }
}
