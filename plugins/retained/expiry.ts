// Expiry rules (--retained-expiry 'devices/+/status=24h'): the first rule whose filter
// matches a topic gives its retained message a lifetime; no rule, no expiry.
//
// Each rule keeps its expiring nodes in a doubly linked list ordered by expiry time:
// every rule has one lifetime, so a message stored now always goes to the tail, and the
// sweeper only ever looks at the heads. Storing, replacing and removing are O(1).
import { topicMatches } from '../../src/topics.js'
import { ConfigError } from '../../src/errors.js'
import { parseOptionValue, type OptionSpec } from '../../src/options.js'
import { filterProblem, type ExpiryLink, type TrieNode } from './trie.js'

export interface ExpiryRule {
  filter: string
  ttlMs: number
}

const DURATION: OptionSpec = { key: 'retained.expiry', type: 'duration', default: null, help: '', min: 1 }

/**
 * One --retained-expiry item: "FILTER=DURATION" (flags, env, config file) or, in the config
 * file, {"filter": "devices/+/status", "ttl": "24h"}. Throws ConfigError naming the bad one.
 */
export function parseExpiryRule (raw: unknown, where: string): ExpiryRule {
  let filter: string
  let ttl: unknown
  if (typeof raw === 'string') {
    const eq = raw.lastIndexOf('=')
    if (eq === -1) throw new ConfigError(`${where}: invalid rule ${JSON.stringify(raw)}: expected FILTER=DURATION, e.g. devices/+/status=24h`)
    filter = raw.slice(0, eq).trim()
    ttl = raw.slice(eq + 1)
  } else if (raw !== null && typeof raw === 'object' && typeof (raw as { filter?: unknown }).filter === 'string') {
    filter = (raw as { filter: string }).filter
    ttl = (raw as { ttl?: unknown }).ttl
  } else {
    throw new ConfigError(`${where}: invalid rule ${JSON.stringify(raw)}: expected "FILTER=DURATION" or {"filter": ..., "ttl": ...}`)
  }
  const problem = filterProblem(filter)
  if (problem !== null) throw new ConfigError(`${where}: invalid rule ${JSON.stringify(raw)}: ${problem}`)
  const ttlMs = parseOptionValue(DURATION, ttl, `${where} ${JSON.stringify(raw)}`) as number
  return { filter, ttlMs }
}

class ExpiryList {
  head: TrieNode | null = null
  tail: TrieNode | null = null
  constructor (readonly rule: ExpiryRule) {}

  append (node: TrieNode): void {
    node.exp = { prev: this.tail, next: null, list: this }
    if (this.tail !== null) (this.tail.exp as ExpiryLink).next = node
    else this.head = node
    this.tail = node
  }

  unlink (node: TrieNode): void {
    const link = node.exp as ExpiryLink
    if (link.prev !== null) (link.prev.exp as ExpiryLink).next = link.next
    else this.head = link.next
    if (link.next !== null) (link.next.exp as ExpiryLink).prev = link.prev
    else this.tail = link.prev
    node.exp = null
  }
}

function nextOf (node: TrieNode): TrieNode | null {
  return (node.exp as ExpiryLink).next
}

export class Expiry {
  private readonly lists: ExpiryList[]

  constructor (rules: readonly ExpiryRule[]) {
    this.lists = rules.map(r => new ExpiryList(r))
  }

  get enabled (): boolean {
    return this.lists.length > 0
  }

  /** Gives a just-stored node its expiry time (from its stored time) and queues it. */
  track (node: TrieNode, topic: string): void {
    this.untrack(node)
    node.expiresAt = 0
    for (const list of this.lists) {
      if (topicMatches(list.rule.filter, topic)) {
        node.expiresAt = node.storedAt + list.rule.ttlMs
        list.append(node)
        return
      }
    }
  }

  untrack (node: TrieNode): void {
    if (node.exp !== null) (node.exp.list as ExpiryList).unlink(node)
  }

  /** After a bulk load in storage order: puts every list back in expiry order. */
  sortAll (): void {
    for (const list of this.lists) {
      const nodes: TrieNode[] = []
      for (let n = list.head; n !== null; n = nextOf(n)) nodes.push(n)
      nodes.sort((a, b) => a.expiresAt - b.expiresAt)
      list.head = list.tail = null
      for (const n of nodes) {
        n.exp = null
        list.append(n)
      }
    }
  }

  /** Forgets every queued node (the index was cleared). */
  reset (): void {
    for (const list of this.lists) list.head = list.tail = null
  }

  /** Up to `max` nodes whose time has come, oldest first per rule. */
  due (now: number, max: number): TrieNode[] {
    const out: TrieNode[] = []
    for (const list of this.lists) {
      for (let n = list.head; n !== null && n.expiresAt <= now && out.length < max; n = nextOf(n)) out.push(n)
    }
    return out
  }
}
