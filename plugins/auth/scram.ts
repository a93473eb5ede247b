// SCRAM-SHA-512, the server side (RFC 5802, with SHA-512 as RFC 7677 does for SHA-256),
// as MQTT 5 extended authentication: the password never crosses the wire and the broker
// computes no PBKDF2. It works from the password file as it is: a $7$ line holds
// PBKDF2-HMAC-SHA512(password, salt, iterations), which is exactly SCRAM's SaltedPassword.
//   client-first  (CONNECT Authentication Data)  n,,n=<user>,r=<client nonce>
//   server-first  (AUTH 0x18)                     r=<nonce>,s=<salt>,i=<iterations>
//   client-final  (AUTH 0x18)                     c=biws,r=<nonce>,p=<proof>
//   server-final  (CONNACK / AUTH 0x00)           v=<server signature>
// Channel binding and SASLprep of usernames are not done (usernames are compared as sent).
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export const SCRAM_METHOD = 'SCRAM-SHA-512'

export interface ScramCredentials { salt: Buffer, iterations: number, saltedPassword: Buffer }

export type ScramAnswer =
  | { ok: true, reply: string }
  | { ok: false, reason: string }

const hmac = (key: Buffer, text: string): Buffer => createHmac('sha512', key).update(text).digest()
const sha512 = (data: Buffer): Buffer => createHash('sha512').update(data).digest()
const PRINTABLE_NONCE = /^[\x21-\x2b\x2d-\x7e]+$/

/** One SCRAM exchange. `lookup` gives a user's credentials, or a decoy for an unknown one (it fails at the end, as a wrong password does). */
export class ScramExchange {
  private clientFirstBare = ''
  private serverFirst = ''
  private gs2Header = ''
  private nonce = ''
  private credentials: ScramCredentials | null = null
  /** Whether credentials are a real user's (a decoy's proof never holds). */
  private known = false
  /** The username of client-first, once read. */
  username: string | undefined

  constructor (private readonly lookup: (username: string) => { credentials: ScramCredentials, known: boolean }) {}

  /** client-first -> server-first. */
  first (message: string): ScramAnswer {
    const match = /^([ny]),(?:a=[^,]*)?,(n=([^,]*),r=([^,]+))$/.exec(message)
    if (match === null) return { ok: false, reason: 'not a SCRAM client-first message (expected n,,n=USER,r=NONCE; channel binding is not supported)' }
    const username = decodeName(match[3])
    if (username === null || username === '') return { ok: false, reason: 'invalid SCRAM username' }
    if (!PRINTABLE_NONCE.test(match[4])) return { ok: false, reason: 'invalid SCRAM nonce' }
    this.gs2Header = message.slice(0, message.length - match[2].length)
    this.clientFirstBare = match[2]
    this.username = username
    const { credentials, known } = this.lookup(username)
    this.credentials = credentials
    this.known = known
    this.nonce = match[4] + randomBytes(18).toString('base64')
    this.serverFirst = `r=${this.nonce},s=${credentials.salt.toString('base64')},i=${credentials.iterations}`
    return { ok: true, reply: this.serverFirst }
  }

  /** client-final -> server-final, when the proof holds. */
  final (message: string): ScramAnswer {
    const match = /^(c=([^,]*),r=([^,]*)(?:,[^p][^,]*)*),p=([A-Za-z0-9+/=]+)$/.exec(message)
    if (match === null || this.credentials === null) return { ok: false, reason: 'not a SCRAM client-final message' }
    if (match[2] !== Buffer.from(this.gs2Header).toString('base64')) return { ok: false, reason: 'SCRAM channel binding data does not match' }
    if (match[3] !== this.nonce) return { ok: false, reason: 'SCRAM nonce does not match' }
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${match[1]}`
    const clientKey = hmac(this.credentials.saltedPassword, 'Client Key')
    const storedKey = sha512(clientKey)
    const signature = hmac(storedKey, authMessage)
    const proof = Buffer.from(match[4], 'base64')
    if (proof.length !== signature.length) return { ok: false, reason: 'unknown user or wrong password' }
    for (let i = 0; i < proof.length; i++) proof[i] ^= signature[i]
    if (!timingSafeEqual(sha512(proof), storedKey) || !this.known) return { ok: false, reason: 'unknown user or wrong password' }
    const serverSignature = hmac(hmac(this.credentials.saltedPassword, 'Server Key'), authMessage)
    return { ok: true, reply: `v=${serverSignature.toString('base64')}` }
  }
}

/** RFC 5802 saslname: ',' and '=' are sent as =2C and =3D; any other '=' is invalid. */
function decodeName (name: string): string | null {
  if (/=(?!2C|3D)/.test(name)) return null
  return name.replace(/=2C/g, ',').replace(/=3D/g, '=')
}

/**
 * Credentials for a username nobody has (or one whose hash SCRAM cannot use): the same salt
 * for the same name on every try, so the answer does not tell which usernames exist.
 */
export function decoyCredentials (username: string, iterations: number, secret: Buffer): ScramCredentials {
  return { salt: hmac(secret, username).subarray(0, 12), iterations, saltedPassword: randomBytes(64) }
}
