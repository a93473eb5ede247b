// A throwaway CA, server certificate and client certificates, made with the openssl CLI.
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './system.js'

export interface TestPki {
  dir: string
  ca: string
  caKey: string
  serverCert: string
  serverKey: string
  /** Issues a client certificate with this Common Name; returns its { cert, key } paths. */
  client: (cn: string) => { cert: string, key: string }
  /** Issues another server certificate (for reload tests); returns its { cert, key } paths. */
  server: (name: string) => { cert: string, key: string }
  remove: () => void
}

function openssl (args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' })
}

export function makePki (): TestPki {
  const { path: dir, remove } = tempDir('swallow-pki-')
  const p = (name: string): string => join(dir, name)
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=Swallow Test CA'], dir)
  writeFileSync(p('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n')
  const issue = (name: string, cn: string, ext?: string): { cert: string, key: string } => {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir)
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2',
      ...(ext ? ['-extfile', ext] : [])], dir)
    return { cert: p(`${name}.crt`), key: p(`${name}.key`) }
  }
  const server = issue('server', 'localhost', 'server.ext')
  return {
    dir,
    ca: p('ca.crt'),
    caKey: p('ca.key'),
    serverCert: server.cert,
    serverKey: server.key,
    client: cn => issue(`client-${cn}`, cn),
    server: name => issue(name, 'localhost', 'server.ext'),
    remove
  }
}
