// The MQTT 5 authentication methods the auth plugin implements (src/hooks.ts AuthMethod):
//  - SCRAM-SHA-512 (scram.ts), from the password file's $7$ entries: the password never
//    crosses the wire;
//  - JWT: the token in the Authentication Data instead of the password; re-authenticating
//    (AUTH 0x19) with a fresh token keeps the connection past the first token's expiry.
// Both answer through `settle`, the same step the authenticate hook ends with: the
// brute-force guard counts their failures, and a success sets the client's permissions.
import { randomBytes } from 'node:crypto'
import type { AuthenticateError, Client } from 'aedes'
import type { AuthMethod, AuthStep } from '../../src/hooks.js'
import { reasonFromReturnCode } from '../../src/protocol/reason-codes.js'
import type { IdentityResult } from './identity.js'
import type { JwtVerifier } from './jwt.js'
import type { PasswordFile } from './password-file.js'
import { DEFAULT_ITERATIONS } from './password-hash.js'
import { decoyCredentials, SCRAM_METHOD, ScramExchange, type ScramCredentials } from './scram.js'

export const JWT_METHOD = 'JWT'

export interface MethodDeps {
  /** A refusal when this username is locked out from the client's address, else null. */
  lockedOut: (client: Client, username: string | undefined) => AuthenticateError | null
  /** Records the outcome as the authenticate hook does; the refusal, or null when accepted. */
  settle: (client: Client, username: string | undefined, result: IdentityResult) => AuthenticateError | null
}

const failure = (err: AuthenticateError & { reasonCode?: number }): AuthStep =>
  ({ outcome: 'failure', reason: err.message, reasonCode: err.reasonCode ?? reasonFromReturnCode(err.returnCode) })

const badCredentials = (reason: string): IdentityResult => ({ ok: false, code: 4, reason, result: 'bad_credentials', guess: true })

export function scramMethod (passwords: () => PasswordFile | null, deps: MethodDeps, warn: (username: string) => void): AuthMethod {
  const decoySecret = randomBytes(32)
  const lookup = (username: string): { credentials: ScramCredentials, known: boolean } => {
    const file = passwords()
    const hash = file?.get(username)?.hash
    if (hash?.kind === 'pbkdf2-sha512') return { credentials: { salt: hash.salt, iterations: hash.iterations, saltedPassword: hash.hash }, known: true }
    if (hash?.kind === 'sha512') warn(username)
    return { credentials: decoyCredentials(username, DEFAULT_ITERATIONS, decoySecret), known: false }
  }
  return {
    name: SCRAM_METHOD,
    begin (client) {
      const scram = new ScramExchange(lookup)
      let turn = 0
      return {
        async step (data) {
          const text = data?.toString('utf8') ?? ''
          if (turn++ === 0) {
            const answer = scram.first(text)
            if (!answer.ok) return failure(deps.settle(client, undefined, badCredentials(answer.reason)) ?? notAccepted())
            const locked = deps.lockedOut(client, scram.username)
            if (locked !== null) return failure(locked)
            return { outcome: 'continue', data: Buffer.from(answer.reply) }
          }
          const answer = scram.final(text)
          if (!answer.ok) return failure(deps.settle(client, scram.username, badCredentials(answer.reason)) ?? notAccepted())
          const refused = deps.settle(client, scram.username, { ok: true, username: scram.username, source: 'password', tokenAcl: null, expiresAt: null })
          return refused === null ? { outcome: 'success', data: Buffer.from(answer.reply) } : failure(refused)
        }
      }
    }
  }
}

export function jwtMethod (jwt: () => JwtVerifier | null, deps: MethodDeps): AuthMethod {
  return {
    name: JWT_METHOD,
    begin (client, { username }) {
      return {
        async step (data) {
          const locked = deps.lockedOut(client, username)
          if (locked !== null) return failure(locked)
          const verifier = jwt()
          const verdict = verifier === null || data === undefined
            ? { ok: false as const, reason: data === undefined ? 'no token in the Authentication Data' : 'no JWT key is configured' }
            : await verifier.verify(data.toString('utf8'), username)
          const refused = deps.settle(client, username, verdict.ok
            ? { ok: true, username: verdict.username, source: 'jwt', tokenAcl: verdict.acl, expiresAt: verdict.expiresAt }
            : badCredentials(verdict.reason))
          return refused === null ? { outcome: 'success' } : failure(refused)
        }
      }
    }
  }
}

function notAccepted (): AuthenticateError {
  return Object.assign(new Error('unknown user or wrong password'), { returnCode: 4 }) as AuthenticateError
}
