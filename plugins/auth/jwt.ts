// JWT identities: the CONNECT password carries the token. Verified with jose against an
// HS256 secret (--jwt-secret) and/or a PEM public key or JWKS file (--jwt-key). The
// accepted algorithms follow from the configured keys, so `alg: none` and algorithm
// confusion (an HS256 token "signed" with the public key) never verify.
import { createPublicKey, type KeyObject } from 'node:crypto'
import { createLocalJWKSet, jwtVerify, errors as joseErrors, type JSONWebKeySet, type JWSAlgorithm, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { FileProblem } from './file-problem.js'
import type { TokenAcl } from './permissions.js'
import { validFilter } from './topics.js'

export interface JwtSettings {
  secret: string | null
  issuer: string | null
  audience: string | null
  usernameClaim: string
}

/** Public key material read from --jwt-key. */
export type JwtKey =
  | { kind: 'pem', key: KeyObject, algorithms: JWSAlgorithm[] }
  | { kind: 'jwks', keys: JWTVerifyGetKey, algorithms: JWSAlgorithm[] }

export type JwtResult =
  | { ok: true, username: string, acl: TokenAcl | null, expiresAt: number | null }
  | { ok: false, reason: string }

const MAX_TOKEN_LENGTH = 16 * 1024
const JWS_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/** Whether a password looks like a compact JWS (it is then verified as a token, never as a password). */
export function looksLikeJwt (password: string): boolean {
  return password.length <= MAX_TOKEN_LENGTH && password.startsWith('eyJ') && JWS_SHAPE.test(password)
}

const RSA_ALGS: JWSAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
const EC_ALGS: Record<string, JWSAlgorithm> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512', prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }

/** Parses the text of --jwt-key: a PEM public key / certificate, or a JWKS ({"keys": [...]}). */
export function parseJwtKey (text: string, file: string): JwtKey {
  const trimmed = text.trim()
  if (trimmed.startsWith('{')) {
    let jwks: JSONWebKeySet
    try {
      jwks = JSON.parse(trimmed) as JSONWebKeySet
    } catch (err) {
      throw new FileProblem(file, 0, `not valid JSON: ${(err as Error).message}`)
    }
    if (!Array.isArray(jwks?.keys) || jwks.keys.length === 0) throw new FileProblem(file, 0, 'a JWKS needs a non-empty "keys" array')
    const algorithms = new Set<JWSAlgorithm>()
    for (const [i, jwk] of jwks.keys.entries()) {
      if (jwk.kty === 'oct' || 'd' in jwk) throw new FileProblem(file, 0, `keys[${i}]: only public keys belong in --jwt-key (use --jwt-secret for HS256)`)
      const algs = jwk.alg ? [jwk.alg as JWSAlgorithm] : algorithmsFor(jwk.kty, jwk.crv)
      if (algs.length === 0) throw new FileProblem(file, 0, `keys[${i}]: unsupported key type ${String(jwk.kty)}`)
      for (const a of algs) algorithms.add(a)
    }
    try {
      return { kind: 'jwks', keys: createLocalJWKSet(jwks), algorithms: [...algorithms] }
    } catch (err) {
      throw new FileProblem(file, 0, `invalid JWKS: ${(err as Error).message}`)
    }
  }
  if (!trimmed.startsWith('-----BEGIN')) throw new FileProblem(file, 0, 'expected a PEM public key (-----BEGIN PUBLIC KEY-----) or a JWKS JSON file')
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(trimmed)) throw new FileProblem(file, 0, 'this is a private key; give the broker the public key only')
  let key: KeyObject
  try {
    key = createPublicKey(trimmed)
  } catch (err) {
    throw new FileProblem(file, 0, `cannot read the PEM key: ${(err as Error).message}`)
  }
  const type = key.asymmetricKeyType
  const algorithms = type === 'rsa' || type === 'rsa-pss'
    ? RSA_ALGS
    : type === 'ec' ? algorithmsFor('EC', key.asymmetricKeyDetails?.namedCurve) : algorithmsFor(type === 'ed25519' ? 'OKP' : String(type), 'Ed25519')
  if (algorithms.length === 0) throw new FileProblem(file, 0, `unsupported key type ${String(type)}; use RSA, EC (P-256/384/521) or Ed25519`)
  return { kind: 'pem', key, algorithms }
}

function algorithmsFor (kty: string | undefined, crv: string | undefined): JWSAlgorithm[] {
  if (kty === 'RSA') return RSA_ALGS
  if (kty === 'EC' && crv && EC_ALGS[crv]) return [EC_ALGS[crv]]
  if (kty === 'OKP' && crv === 'Ed25519') return ['EdDSA', 'Ed25519']
  return []
}

export class JwtVerifier {
  private readonly secret: Uint8Array | null

  constructor (private readonly settings: JwtSettings, private readonly key: JwtKey | null) {
    this.secret = settings.secret === null ? null : new TextEncoder().encode(settings.secret)
  }

  async verify (token: string, username: string | undefined): Promise<JwtResult> {
    const algorithms: JWSAlgorithm[] = [...(this.secret ? ['HS256' as const] : []), ...(this.key?.algorithms ?? [])]
    let payload: JWTPayload
    try {
      const result = await jwtVerify(token, this.getKey, {
        algorithms,
        issuer: this.settings.issuer ?? undefined,
        audience: this.settings.audience ?? undefined,
        requiredClaims: ['exp']
      })
      payload = result.payload
    } catch (err) {
      return { ok: false, reason: describe(err) }
    }
    const claimed = payload[this.settings.usernameClaim]
    if (typeof claimed !== 'string' || claimed === '') return { ok: false, reason: `token has no "${this.settings.usernameClaim}" claim` }
    // No username (the JWT authentication method without one in CONNECT): the claim is the identity.
    if (username !== undefined && claimed !== username) return { ok: false, reason: `username does not match the token's "${this.settings.usernameClaim}" claim` }
    const acl = parseAclClaim(payload.acl)
    if (typeof acl === 'string') return { ok: false, reason: acl }
    return { ok: true, username: claimed, acl, expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null }
  }

  // Picks the key by the token's algorithm; jose has already checked it is in `algorithms`.
  private readonly getKey = async (header: { alg?: string }, token: Parameters<JWTVerifyGetKey>[1]): Promise<Uint8Array | KeyObject | CryptoKey> => {
    if (header.alg === 'HS256') {
      if (!this.secret) throw new joseErrors.JOSEAlgNotAllowed('HS256 is not configured')
      return this.secret
    }
    if (!this.key) throw new joseErrors.JOSEAlgNotAllowed(`${String(header.alg)} is not configured`)
    if (this.key.kind === 'pem') return this.key.key
    return await this.key.keys(header as Parameters<JWTVerifyGetKey>[0], token) as CryptoKey
  }
}

function parseAclClaim (claim: unknown): TokenAcl | null | string {
  if (claim === undefined) return null
  if (claim === null || typeof claim !== 'object' || Array.isArray(claim)) return 'the "acl" claim must be an object {"pub": [...], "sub": [...]}'
  const { pub = [], sub = [] } = claim as { pub?: unknown, sub?: unknown }
  for (const list of [pub, sub]) {
    if (!Array.isArray(list) || !list.every(f => typeof f === 'string' && validFilter(f))) {
      return 'the "acl" claim\'s "pub" and "sub" must be arrays of topic filters'
    }
  }
  return { pub: pub as string[], sub: sub as string[] }
}

function describe (err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'token expired'
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `token claim "${err.claim}" invalid: ${err.reason}`
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm not allowed'
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature invalid'
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no key in the JWKS matches the token'
  if (err instanceof joseErrors.JOSEError) return `token invalid (${err.code})`
  return 'token invalid'
}
