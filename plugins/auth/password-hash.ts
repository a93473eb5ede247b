// The two hash formats mosquitto_passwd writes, byte for byte:
//   $6$<salt b64>$<hash b64>               hash = SHA-512(password || salt)   (Mosquitto <= 1.6)
//   $7$<iterations>$<salt b64>$<hash b64>  hash = PBKDF2-HMAC-SHA512(password, salt, iterations, 64)
// The salt is used as raw bytes (base64-decoded). PBKDF2 runs on libuv's thread pool.
import { createHash, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto'

export type PasswordHash =
  | { kind: 'sha512', salt: Buffer, hash: Buffer }
  | { kind: 'pbkdf2-sha512', iterations: number, salt: Buffer, hash: Buffer }

/** OWASP's 2023 recommendation for PBKDF2-HMAC-SHA512; Mosquitto 2.0 itself writes 101. */
export const DEFAULT_ITERATIONS = 210_000
/** Refuse absurd counts in a file: one verification must stay bounded. */
export const MAX_ITERATIONS = 10_000_000
const SALT_BYTES = 12
const HASH_BYTES = 64
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

/** Parses the part after "user:"; returns a message saying what is wrong instead of throwing. */
export function parseHash (text: string): PasswordHash | string {
  const parts = text.split('$')
  if (parts[0] !== '' || parts.length < 4) {
    return 'the password is not hashed (expected $7$... or $6$...); hash it with "swallow passwd -U FILE"'
  }
  if (parts[1] === '6' && parts.length === 4) {
    const salt = decode(parts[2])
    const hash = decode(parts[3])
    if (!salt || !hash || hash.length !== HASH_BYTES) return 'malformed $6$ hash (expected $6$SALT$HASH in base64)'
    return { kind: 'sha512', salt, hash }
  }
  if (parts[1] === '7' && parts.length === 5) {
    if (!/^\d{1,9}$/.test(parts[2])) return 'malformed $7$ hash: the iteration count is not a number'
    const iterations = Number(parts[2])
    if (iterations < 1 || iterations > MAX_ITERATIONS) return `$7$ iteration count ${iterations} is outside 1..${MAX_ITERATIONS}`
    const salt = decode(parts[3])
    const hash = decode(parts[4])
    if (!salt || !hash || hash.length !== HASH_BYTES) return 'malformed $7$ hash (expected $7$ITERATIONS$SALT$HASH in base64)'
    return { kind: 'pbkdf2-sha512', iterations, salt, hash }
  }
  return `unsupported hash type "$${parts[1].slice(0, 20)}$"; supported: $7$ (sha512-pbkdf2) and $6$ (sha512)`
}

function decode (b64: string): Buffer | null {
  if (!BASE64.test(b64)) return null
  const buf = Buffer.from(b64, 'base64')
  return buf.length > 0 ? buf : null
}

export function formatHash (h: PasswordHash): string {
  if (h.kind === 'sha512') return `$6$${h.salt.toString('base64')}$${h.hash.toString('base64')}`
  return `$7$${h.iterations}$${h.salt.toString('base64')}$${h.hash.toString('base64')}`
}

/** Constant-time check of `password` against `h`; never rejects. */
export async function verifyPassword (h: PasswordHash, password: Buffer): Promise<boolean> {
  const computed = h.kind === 'sha512'
    ? createHash('sha512').update(password).update(h.salt).digest()
    : await pbkdf2Async(password, h.salt, h.iterations).catch(() => null)
  return computed !== null && computed.length === h.hash.length && timingSafeEqual(computed, h.hash)
}

/** A new $7$ hash line part for `password`, as mosquitto_passwd -H sha512-pbkdf2 writes it. */
export async function hashPassword (password: string | Buffer, iterations = DEFAULT_ITERATIONS): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const hash = await pbkdf2Async(typeof password === 'string' ? Buffer.from(password, 'utf8') : password, salt, iterations)
  return formatHash({ kind: 'pbkdf2-sha512', iterations, salt, hash })
}

function pbkdf2Async (password: Buffer, salt: Buffer, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(password, salt, iterations, HASH_BYTES, 'sha512', (err, key) => err ? reject(err) : resolve(key))
  })
}
