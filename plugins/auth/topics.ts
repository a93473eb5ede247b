// MQTT topic filter algebra for authorization: does a filter match a topic, does one
// filter cover everything another can match.
// A filter is kept as its levels, split once when rules are compiled, so that matching a
// topic per message (authorizePublish / authorizeForward) allocates nothing.
//
// MQTT-4.7.2-1: a filter starting with a wildcard does not match topics starting with
// "$", so a `#` grant never covers $SYS/...; reading $SYS needs an explicit grant.

export type Levels = readonly string[]

export function splitFilter (filter: string): Levels {
  return filter.split('/')
}

/** Whether `filter` (split) matches the concrete `topic`, without allocating. */
export function matches (filter: Levels, topic: string): boolean {
  if (topic.charCodeAt(0) === 36 && (filter[0] === '+' || filter[0] === '#')) return false
  let pos = 0
  for (let i = 0; i < filter.length; i++) {
    const level = filter[i]
    if (level === '#') return true
    if (pos > topic.length) return false // topic has fewer levels than the filter
    let end = topic.indexOf('/', pos)
    if (end === -1) end = topic.length
    if (level !== '+') {
      if (end - pos !== level.length || !topic.startsWith(level, pos)) return false
    }
    pos = end + 1
  }
  return pos > topic.length
}

const isWild = (level: string): boolean => level === '+' || level === '#'

/**
 * Whether every topic that `sub` can match is also matched by `grant`. Used to decide
 * whether a (wildcard) subscription may be granted at all.
 */
export function covers (grant: Levels, sub: Levels): boolean {
  // A $-topic literal at the first level is out of reach of a wildcard grant.
  if (isWild(grant[0]) && sub[0].startsWith('$')) return false
  for (let i = 0; i < grant.length; i++) {
    const g = grant[i]
    if (g === '#') return true // `a/#` also matches `a`, so a shorter sub is covered
    if (i >= sub.length) return false
    const s = sub[i]
    if (s === '#') return false // sub reaches any depth, grant does not
    if (g === '+') continue
    if (s !== g) return false // literal grant level: sub must be the same literal
  }
  return sub.length === grant.length
}

/** A filter is well-formed: `#` only as the last level, wildcards only as whole levels. */
export function validFilter (filter: string): boolean {
  if (filter.length === 0) return false
  const levels = filter.split('/')
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return false
    if (l.includes('+') && l !== '+') return false
  }
  return true
}

/**
 * Substitutes %u and %c in an ACL pattern. Returns null when the pattern needs a value
 * the client does not have, or when the value contains a wildcard or a level separator
 * (a client id of "#" must not turn `devices/%c/#` into a grant on everything).
 */
export function substitute (pattern: string, username: string | undefined, clientId: string): string | null {
  let out = pattern
  if (out.includes('%u')) {
    if (username === undefined || username === '' || unsafeLevel(username)) return null
    out = out.replaceAll('%u', username)
  }
  if (out.includes('%c')) {
    if (clientId === '' || unsafeLevel(clientId)) return null
    out = out.replaceAll('%c', clientId)
  }
  return out
}

function unsafeLevel (value: string): boolean {
  return value.includes('/') || value.includes('+') || value.includes('#')
}
