// The password file mosquitto_passwd writes: one "username:hash" line per user; blank
// lines and lines starting with # are ignored; the username is everything before the
// first ":" (trimmed, as Mosquitto does).
import { FileProblem } from './file-problem.js'
import { parseHash, type PasswordHash } from './password-hash.js'

export interface PasswordEntry {
  hash: PasswordHash
  /** The hash as written in the file: identifies the entry across reloads (for the cache). */
  text: string
}

export type PasswordFile = Map<string, PasswordEntry>

/** Parses the whole file; the first problem throws FileProblem with its line number. */
export function parsePasswordFile (text: string, file: string): PasswordFile {
  const users: PasswordFile = new Map()
  const firstLine = new Map<string, number>()
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1
    const line = lines[i].trim()
    if (line === '' || line.startsWith('#')) continue
    const colon = line.indexOf(':')
    if (colon === -1) throw new FileProblem(file, lineNo, 'expected "username:hash" (no ":" on this line)')
    const username = line.slice(0, colon).trim()
    const hashText = line.slice(colon + 1).trim()
    if (username === '') throw new FileProblem(file, lineNo, 'empty username before ":"')
    if (Buffer.byteLength(username) > 65535) throw new FileProblem(file, lineNo, 'username longer than 65535 bytes')
    const hash = parseHash(hashText)
    if (typeof hash === 'string') throw new FileProblem(file, lineNo, `user "${username.slice(0, 60)}": ${hash}`)
    const earlier = firstLine.get(username)
    if (earlier !== undefined) throw new FileProblem(file, lineNo, `user "${username.slice(0, 60)}" is already defined on line ${earlier}`)
    firstLine.set(username, lineNo)
    users.set(username, { hash, text: hashText })
  }
  return users
}
