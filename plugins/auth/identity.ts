// Who is connecting: resolves a CONNECT (username, password, TLS socket) to an identity,
// or to a refusal with its CONNACK code. Order: verified certificate CN (when enabled),
// then anonymous rules, then a JWT (a password shaped like one), then the password file.
import { randomBytes } from 'node:crypto'
import type { TLSSocket } from 'node:tls'
import { certificateCommonName, type CertIdentityMode } from './cert-identity.js'
import type { JwtVerifier } from './jwt.js'
import { looksLikeJwt } from './jwt.js'
import type { PasswordEntry, PasswordFile } from './password-file.js'
import { DEFAULT_ITERATIONS } from './password-hash.js'
import type { TokenAcl } from './permissions.js'
import type { PasswordVerifier } from './verifier.js'

export type IdentitySource = 'open' | 'anonymous' | 'password' | 'jwt' | 'cert'

export type IdentityResult =
  | { ok: true, username: string | undefined, source: IdentitySource, tokenAcl: TokenAcl | null, expiresAt: number | null }
  | {
    ok: false
    /** CONNACK return code: 3 server unavailable, 4 bad username or password, 5 not authorized. */
    code: 3 | 4 | 5
    reason: string
    /** Metric label. */
    result: 'bad_credentials' | 'anonymous_refused' | 'busy'
    /** Whether the brute-force guard counts it (a guessed credential). */
    guess: boolean
  }

export interface IdentityDeps {
  passwords: () => PasswordFile | null
  jwt: () => JwtVerifier | null
  verifier: PasswordVerifier
  certIdentity: CertIdentityMode
  allowAnonymous: boolean
}

const MAX_PASSWORD_BYTES = 65535

export class IdentityResolver {
  constructor (private readonly deps: IdentityDeps) {}

  /** Whether any identity source is configured (then anonymous clients need --allow-anonymous). */
  get sourcesConfigured (): boolean {
    return this.deps.passwords() !== null || this.deps.jwt() !== null || this.deps.certIdentity !== 'none'
  }

  /** `wanted` tells whether the client still waits for the answer (see PasswordVerifier). */
  async resolve (username: string | undefined, password: Buffer | undefined, tls: TLSSocket | null, wanted?: () => boolean): Promise<IdentityResult> {
    if (this.deps.certIdentity === 'cn') {
      const cn = certificateCommonName(tls)
      if (cn !== null) return accepted(cn, 'cert')
    }
    if (!this.sourcesConfigured) {
      // Nothing verifies a username here, so it must not select an ACL user block.
      return accepted(undefined, 'open')
    }
    if (username === undefined && password === undefined) {
      if (this.deps.allowAnonymous) return accepted(undefined, 'anonymous')
      return refused(5, 'anonymous clients are not allowed (a username and password are required; --allow-anonymous permits them)', 'anonymous_refused', false)
    }
    if (username === undefined || username === '') return refused(4, 'empty username', 'bad_credentials', true)
    if (password === undefined || password.length === 0) return refused(4, 'no password', 'bad_credentials', true)
    if (password.length > MAX_PASSWORD_BYTES) return refused(4, 'password too long', 'bad_credentials', true)

    const jwt = this.deps.jwt()
    if (jwt !== null) {
      const text = password.toString('utf8')
      if (looksLikeJwt(text)) {
        const result = await jwt.verify(text, username)
        if (!result.ok) return refused(4, result.reason, 'bad_credentials', true)
        return { ok: true, username: result.username, source: 'jwt', tokenAcl: result.acl, expiresAt: result.expiresAt }
      }
    }
    const passwords = this.deps.passwords()
    if (passwords === null) return refused(4, noPasswordSource(jwt !== null), 'bad_credentials', true)
    // An unknown user costs the same PBKDF2 as a known one: the answer time must not tell
    // which usernames exist.
    const entry = passwords.get(username) ?? decoyFor(passwords)
    const verdict = await this.deps.verifier.verify(username, entry, password, wanted)
    if (verdict === 'busy') return refused(3, 'too many password checks pending; try again', 'busy', false)
    if (verdict === 'gone') return refused(3, 'the client closed the connection while its password check waited', 'busy', false)
    if (verdict === 'bad') return refused(4, 'unknown user or wrong password', 'bad_credentials', true)
    return accepted(username, 'password')
  }
}

const decoys = new WeakMap<PasswordFile, PasswordEntry>()

/** A random entry hashed like the file's first $7$ line (it matches no password). */
function decoyFor (passwords: PasswordFile): PasswordEntry {
  let decoy = decoys.get(passwords)
  if (decoy === undefined) {
    let iterations = DEFAULT_ITERATIONS
    for (const entry of passwords.values()) {
      if (entry.hash.kind === 'pbkdf2-sha512') {
        iterations = entry.hash.iterations
        break
      }
    }
    decoy = { hash: { kind: 'pbkdf2-sha512', iterations, salt: randomBytes(12), hash: randomBytes(64) }, text: '' }
    decoys.set(passwords, decoy)
  }
  return decoy
}

function noPasswordSource (jwt: boolean): string {
  return jwt ? 'the password must be a valid JWT (no password file is configured)' : 'no password file or JWT key is configured; a client certificate is required'
}

function accepted (username: string | undefined, source: IdentitySource): IdentityResult {
  return { ok: true, username, source, tokenAcl: null, expiresAt: null }
}

function refused (code: 3 | 4 | 5, reason: string, result: 'bad_credentials' | 'anonymous_refused' | 'busy', guess: boolean): IdentityResult {
  return { ok: false, code, reason, result, guess }
}
