// Shared by every listener: bind a server, turn bind errors into one clear line.
import type { Server } from 'node:net'
import { coreOptions } from '../config.js'
import { StartupError } from '../errors.js'
import { flagName } from '../options.js'

export interface Listener {
  /** e.g. "mqtt", "ws", "http" */
  name: string
  /** e.g. mqtt://127.0.0.1:1883 */
  url: string
  host: string
  port: number
  close: () => Promise<void>
}

export async function bind (server: Server, host: string, port: number, flag: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.removeListener('listening', onListening)
      reject(bindError(err, host, port, flag))
    }
    const onListening = (): void => {
      server.removeListener('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen(port, host)
  })
  const address = server.address()
  return typeof address === 'object' && address !== null ? address.port : port
}

// A command that avoids the default ports (Mosquitto holds 1883 on many machines).
const SIDE_BY_SIDE = 'npm start -- --mqtt-port 1884 --ws-port 8093 --http-port 8090'

/** The listener flag's default port, from its option row. */
const defaultPort = (flag: string): unknown => coreOptions.find(spec => flagName(spec) === flag)?.default

function bindError (err: NodeJS.ErrnoException, host: string, port: number, flag: string): Error {
  switch (err.code) {
    case 'EADDRINUSE':
      return new StartupError(`port ${port} on ${host} is already in use; pick another with ${flag} N (or ${flag} off)` +
        (defaultPort(flag) === port ? `; beside another broker on the default ports: ${SIDE_BY_SIDE}` : ''))
    case 'EACCES':
      return new StartupError(`no permission to listen on port ${port}; use a port above 1023 with ${flag} N`)
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new StartupError(`--host ${host} is not an address of this machine; use 127.0.0.1 or 0.0.0.0`)
    default:
      return new StartupError(`cannot listen on ${host}:${port} (${flag}): ${err.message}`)
  }
}

export function urlHost (host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

export function closeServer (server: Server): Promise<void> {
  return new Promise(resolve => server.close(() => resolve()))
}
