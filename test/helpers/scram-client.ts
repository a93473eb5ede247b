// The client side of SCRAM-SHA-512 (RFC 5802 with SHA-512), written from the RFC for the
// tests, independently of the broker's plugins/auth/scram.ts.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto'

export class ScramClient {
  readonly clientFirst: string
  private readonly clientFirstBare: string
  private expectedServerSignature: Buffer | null = null

  constructor (username: string, private readonly password: string) {
    this.clientFirstBare = `n=${username.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${randomBytes(18).toString('base64')}`
    this.clientFirst = `n,,${this.clientFirstBare}`
  }

  /** server-first -> client-final. */
  final (serverFirst: string): string {
    const fields = Object.fromEntries(serverFirst.split(',').map(kv => [kv[0], kv.slice(2)]))
    const salted = pbkdf2Sync(this.password, Buffer.from(fields.s, 'base64'), Number(fields.i), 64, 'sha512')
    const withoutProof = `c=${Buffer.from('n,,').toString('base64')},r=${fields.r}`
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`
    const clientKey = createHmac('sha512', salted).update('Client Key').digest()
    const storedKey = createHash('sha512').update(clientKey).digest()
    const signature = createHmac('sha512', storedKey).update(authMessage).digest()
    const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i]))
    const serverKey = createHmac('sha512', salted).update('Server Key').digest()
    this.expectedServerSignature = createHmac('sha512', serverKey).update(authMessage).digest()
    return `${withoutProof},p=${proof.toString('base64')}`
  }

  /** Whether server-final proves the server knows the password too. */
  verifiesServer (serverFinal: string): boolean {
    return this.expectedServerSignature !== null && serverFinal === `v=${this.expectedServerSignature.toString('base64')}`
  }
}
