// What one connected client may do, compiled once per client (and again after a reload)
// from the ACL file, its identity and its token's optional `acl` claim. The checks run
// per message, so they only walk arrays of pre-split filters.
import type { AclFile, AclRule } from './acl-file.js'
import { covers, matches, splitFilter, substitute, type Levels } from './topics.js'

export interface Identity {
  /** Undefined for an anonymous client. */
  username: string | undefined
  clientId: string
}

/** The `acl` claim of a JWT: filters (with %u / %c) the token holder is limited to. */
export interface TokenAcl {
  pub: readonly string[]
  sub: readonly string[]
}

interface RuleSet {
  read: Levels[]
  write: Levels[]
  deny: Levels[]
}

export class Permissions {
  constructor (
    /** Null when no ACL file is configured: the ACL grants everything. */
    private readonly acl: RuleSet | null,
    /** Null when the client's token has no `acl` claim. */
    private readonly tokenPub: Levels[] | null,
    private readonly tokenSub: Levels[] | null
  ) {}

  /** True when nothing restricts this client (the per-message checks can be skipped). */
  get unrestricted (): boolean {
    return this.acl === null && this.tokenPub === null && this.tokenSub === null
  }

  canPublish (topic: string): boolean {
    if (this.tokenPub !== null && !anyMatches(this.tokenPub, topic)) return false
    const acl = this.acl
    if (acl === null) return true
    return !anyMatches(acl.deny, topic) && anyMatches(acl.write, topic)
  }

  /** Per delivery: may this client receive a message on `topic`? */
  canRead (topic: string): boolean {
    if (this.tokenSub !== null && !anyMatches(this.tokenSub, topic)) return false
    const acl = this.acl
    if (acl === null) return true
    return !anyMatches(acl.deny, topic) && anyMatches(acl.read, topic)
  }

  /**
   * A subscription is granted when one read grant covers the whole filter, unless it lies
   * inside a deny rule (it could only ever match denied topics). A filter that merely
   * overlaps a deny rule (`#` beside `deny test/secret`) is granted, as Mosquitto and EMQX
   * do; the denied topics are withheld per delivery (canRead), retained messages included.
   */
  canSubscribe (filter: string): boolean {
    const levels = splitFilter(filter)
    if (this.tokenSub !== null && !this.tokenSub.some(g => covers(g, levels))) return false
    const acl = this.acl
    if (acl === null) return true
    if (acl.deny.some(d => covers(d, levels))) return false
    return acl.read.some(g => covers(g, levels))
  }
}

function anyMatches (filters: Levels[], topic: string): boolean {
  for (let i = 0; i < filters.length; i++) if (matches(filters[i], topic)) return true
  return false
}

export function compilePermissions (acl: AclFile | null, who: Identity, token: TokenAcl | null): Permissions {
  return new Permissions(
    acl === null ? null : compileAcl(acl, who),
    token === null ? null : compileFilters(token.pub, who),
    token === null ? null : compileFilters(token.sub, who)
  )
}

function compileAcl (acl: AclFile, who: Identity): RuleSet {
  const set: RuleSet = { read: [], write: [], deny: [] }
  const own = who.username === undefined ? acl.anonymous : (acl.users.get(who.username) ?? [])
  for (const rule of own) add(set, rule, rule.filter)
  for (const rule of acl.patterns) {
    const filter = substitute(rule.filter, who.username, who.clientId)
    if (filter !== null) add(set, rule, filter)
  }
  return set
}

function add (set: RuleSet, rule: AclRule, filter: string): void {
  const levels = splitFilter(filter)
  if (rule.access === 'deny') set.deny.push(levels)
  if (rule.access === 'read' || rule.access === 'readwrite') set.read.push(levels)
  if (rule.access === 'write' || rule.access === 'readwrite') set.write.push(levels)
}

function compileFilters (filters: readonly string[], who: Identity): Levels[] {
  const out: Levels[] = []
  for (const f of filters) {
    const filter = substitute(f, who.username, who.clientId)
    if (filter !== null) out.push(splitFilter(filter))
  }
  return out
}
