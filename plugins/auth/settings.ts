// The auth plugin's settings: one OptionSpec per flag (--password-file, ...), read back
// with pluginSettings<AuthSettings>(config, 'auth').
import type { OptionSpec } from '../../src/options.js'
import type { CertIdentityMode } from './cert-identity.js'

export interface AuthSettings {
  passwordFile: string | null
  aclFile: string | null
  allowAnonymous: boolean
  jwtSecret: string | null
  jwtKey: string | null
  jwtUsernameClaim: string
  jwtIssuer: string | null
  jwtAudience: string | null
  certIdentity: CertIdentityMode
  /** Milliseconds; 0 disables the cache of successful password verifications. */
  cacheTtl: number
  /** 0 disables the brute-force guard. */
  maxFailures: number
  maxFailuresPerUser: number
  failureWindow: number
  lockout: number
  /** Reload files when they change on disk (SIGHUP always reloads). */
  watch: boolean
}

export const authOptions: readonly OptionSpec[] = [
  { key: 'auth.passwordFile', flag: '--password-file', type: 'string', default: null, defaultText: '(none)', help: 'Mosquitto password file (mosquitto_passwd or swallow passwd); clients then need a username and password' },
  { key: 'auth.aclFile', flag: '--acl-file', type: 'string', default: null, defaultText: '(none: everything allowed)', help: 'Mosquitto acl_file (topic/user/pattern lines); once set, everything not granted is denied' },
  { key: 'auth.allowAnonymous', flag: '--allow-anonymous', type: 'bool', default: false, help: 'accept clients without credentials even when a password file, JWT key or certificate identity is configured' },
  { key: 'auth.jwtSecret', flag: '--jwt-secret', type: 'string', default: null, defaultText: '(none)', help: 'HS256 secret (at least 32 bytes) for JWTs sent as the CONNECT password' },
  { key: 'auth.jwtKey', flag: '--jwt-key', type: 'string', default: null, defaultText: '(none)', help: 'PEM public key or JWKS file for RS*/PS*/ES*/EdDSA JWTs sent as the CONNECT password' },
  { key: 'auth.jwtUsernameClaim', flag: '--jwt-username-claim', type: 'string', default: 'sub', help: 'JWT claim that must equal the CONNECT username' },
  { key: 'auth.jwtIssuer', flag: '--jwt-issuer', type: 'string', default: null, defaultText: '(not checked)', help: 'required JWT "iss" claim' },
  { key: 'auth.jwtAudience', flag: '--jwt-audience', type: 'string', default: null, defaultText: '(not checked)', help: 'required JWT "aud" claim' },
  { key: 'auth.certIdentity', flag: '--auth-cert-identity', type: 'enum', choices: ['none', 'cn'], default: 'none', help: 'cn: a verified TLS client certificate\'s Common Name is the username (no password needed)' },
  { key: 'auth.cacheTtl', flag: '--auth-cache-ttl', type: 'duration', default: 120_000, help: 'how long a successful password check is remembered (0 disables); wrong passwords are never cached' },
  { key: 'auth.maxFailures', flag: '--auth-max-failures', type: 'int', min: 0, default: 10, help: 'failed CONNECTs for one username from one address (within --auth-failure-window) before that username is locked out there; 0 disables' },
  { key: 'auth.maxFailuresPerUser', flag: '--auth-max-failures-per-user', type: 'int', min: 0, default: 100, help: 'failed CONNECTs for one username from all addresses together (within --auth-failure-window) before that username is locked out everywhere except the addresses it logged in from before; 0 disables' },
  { key: 'auth.failureWindow', flag: '--auth-failure-window', type: 'duration', min: 1, default: 60_000, help: 'window in which failed CONNECTs are counted' },
  { key: 'auth.lockout', flag: '--auth-lockout', type: 'duration', min: 1, default: 300_000, help: 'how long a locked-out username gets CONNACK 5 (MQTT 5: 0x8A) from that address without a password check' },
  { key: 'auth.watch', flag: '--auth-watch', type: 'bool', default: true, help: 'reload the password, ACL and JWT key files when they change on disk (SIGHUP always reloads them)' }
]
