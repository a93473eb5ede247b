// `swallow passwd`: mosquitto_passwd's command line, writing lines the real Mosquitto
// broker reads ($7$ PBKDF2-SHA512 with a strong iteration count by default).
//   swallow passwd [-H sha512-pbkdf2|sha512] [-I N] [-c] FILE USER         prompt for the password
//   swallow passwd [-H ...] [-I N] [-c] -b FILE USER PASSWORD               batch
//   swallow passwd -D FILE USER                                              delete
//   swallow passwd -U FILE                                                   hash a plaintext file in place
// Exit codes: 0 done, 1 failed (file, user not found, passwords differ), 2 wrong usage.
import { createHash, randomBytes } from 'node:crypto'
import { readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { DEFAULT_ITERATIONS, MAX_ITERATIONS, formatHash, hashPassword, parseHash } from './password-hash.js'
import { readPassword } from './prompt.js'

const USAGE = `Usage: swallow passwd [-H sha512-pbkdf2 | -H sha512] [-I ITERATIONS] [-c | -D] FILE USERNAME
       swallow passwd [-H sha512-pbkdf2 | -H sha512] [-I ITERATIONS] [-c] -b FILE USERNAME PASSWORD
       swallow passwd -U FILE

Manages a password file in the format of mosquitto_passwd; Swallow's --password-file and
Mosquitto's password_file both read it.
 -b  batch mode: the password is the last argument (visible in ps and shell history)
 -c  create a new file (overwrites an existing one)
 -D  delete USERNAME
 -H  hash: sha512-pbkdf2 ($7$, default) or sha512 ($6$, Mosquitto <= 1.6 only)
 -I  PBKDF2 iterations (default ${DEFAULT_ITERATIONS}; Mosquitto's own default is 101)
 -U  hash every plaintext "user:password" line of FILE in place
`

interface Parsed {
  create: boolean
  batch: boolean
  remove: boolean
  update: boolean
  hash: 'sha512-pbkdf2' | 'sha512'
  iterations: number
  positional: string[]
}

class UsageError extends Error {}

export async function run (args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE)
    return 0
  }
  let opts: Parsed
  try {
    opts = parseArgs(args)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`swallow passwd: ${err.message}\n\n${USAGE}`)
    return 2
  }
  try {
    if (opts.update) return await updateFile(opts.positional[0], opts)
    const [file, username] = opts.positional
    if (opts.remove) return await deleteUser(file, username)
    const password = opts.batch ? opts.positional[2] : await promptTwice()
    if (password === null) return 1
    return await setUser(file, username, password, opts)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    process.stderr.write(`swallow passwd: ${e.code === 'ENOENT' ? `${e.path ?? 'file'} does not exist (use -c to create it)` : e.message}\n`)
    return 1
  }
}

function parseArgs (args: string[]): Parsed {
  const p: Parsed = { create: false, batch: false, remove: false, update: false, hash: 'sha512-pbkdf2', iterations: DEFAULT_ITERATIONS, positional: [] }
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (a === '-c') p.create = true
    else if (a === '-b') p.batch = true
    else if (a === '-D') p.remove = true
    else if (a === '-U') p.update = true
    else if (a === '-H') {
      const v = args[++i]
      if (v !== 'sha512-pbkdf2' && v !== 'sha512') throw new UsageError(`-H: unknown hash "${v ?? ''}"; use sha512-pbkdf2 or sha512`)
      p.hash = v
    } else if (a === '-I') {
      const v = args[++i]
      if (v === undefined || !/^\d+$/.test(v) || Number(v) < 1000 || Number(v) > MAX_ITERATIONS) throw new UsageError(`-I: expected an iteration count between 1000 and ${MAX_ITERATIONS}`)
      p.iterations = Number(v)
    } else if (a.startsWith('-') && a.length > 1) throw new UsageError(`unknown option ${a}`)
    else p.positional.push(a)
  }
  const n = p.positional.length
  if (p.update) {
    if (p.create || p.batch || p.remove || n !== 1) throw new UsageError('-U takes only FILE')
    return p
  }
  if (p.create && p.remove) throw new UsageError('-c and -D cannot be combined')
  if (p.remove && (p.batch || n !== 2)) throw new UsageError('-D takes FILE USERNAME')
  if (!p.remove && n !== (p.batch ? 3 : 2)) throw new UsageError(p.batch ? '-b takes FILE USERNAME PASSWORD' : 'expected FILE USERNAME')
  const username = p.positional[1]
  if (username === '' || username.includes(':')) throw new UsageError('the username must be non-empty and must not contain ":"')
  if (/[\r\n]/.test(username) || Buffer.byteLength(username) > 65535) throw new UsageError('the username must be one line of at most 65535 bytes')
  if (p.batch && /[\r\n]/.test(p.positional[2])) throw new UsageError('the password must not contain line breaks')
  return p
}

async function makeHash (password: string, opts: Parsed): Promise<string> {
  if (opts.hash === 'sha512') {
    const salt = randomBytes(12)
    return formatHash({ kind: 'sha512', salt, hash: createHash('sha512').update(password).update(salt).digest() })
  }
  return await hashPassword(password, opts.iterations)
}

async function setUser (file: string, username: string, password: string, opts: Parsed): Promise<number> {
  const lines = opts.create ? [] : await readLines(file)
  const line = `${username}:${await makeHash(password, opts)}`
  const at = lines.findIndex(l => userOf(l) === username)
  if (at === -1) lines.push(line)
  else lines[at] = line
  await writeAtomically(file, lines)
  return 0
}

async function deleteUser (file: string, username: string): Promise<number> {
  const lines = await readLines(file)
  const kept = lines.filter(l => userOf(l) !== username)
  if (kept.length === lines.length) {
    process.stderr.write(`swallow passwd: user "${username}" not found in ${file}\n`)
    return 1
  }
  await writeAtomically(file, kept)
  return 0
}

async function updateFile (file: string, opts: Parsed): Promise<number> {
  const lines = await readLines(file)
  for (let i = 0; i < lines.length; i++) {
    const user = userOf(lines[i])
    if (user === null) continue
    const secret = lines[i].slice(lines[i].indexOf(':') + 1)
    // Already hashed lines stay as they are (mosquitto_passwd -U would hash them again).
    if (typeof parseHash(secret.trim()) !== 'string') continue
    lines[i] = `${user}:${await makeHash(secret, opts)}`
  }
  await writeAtomically(file, lines)
  return 0
}

/** The username of a "user:..." line, or null for blank lines and comments. */
function userOf (line: string): string | null {
  const t = line.trim()
  if (t === '' || t.startsWith('#')) return null
  const colon = t.indexOf(':')
  return colon === -1 ? null : t.slice(0, colon).trim()
}

async function readLines (file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8')
  const lines = text.split(/\r?\n/)
  if (lines[lines.length - 1] === '') lines.pop()
  return lines
}

/** Writes a sibling temp file and renames it over FILE: a reader sees the old or the new file. */
async function writeAtomically (file: string, lines: string[]): Promise<void> {
  const mode = await stat(file).then(s => s.mode & 0o777, () => 0o600)
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    await writeFile(tmp, lines.map(l => l + '\n').join(''), { mode, flush: true })
    await rename(tmp, file)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
}

async function promptTwice (): Promise<string | null> {
  const first = await readPassword('Password: ')
  const second = await readPassword('Reenter password: ')
  if (first === null || second === null) {
    process.stderr.write('swallow passwd: no password given\n')
    return null
  }
  if (first !== second) {
    process.stderr.write('swallow passwd: passwords do not match\n')
    return null
  }
  if (first === '') {
    process.stderr.write('swallow passwd: empty password\n')
    return null
  }
  return first
}
