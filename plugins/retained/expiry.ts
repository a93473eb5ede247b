// Expiry rules (--retained-expiry 'devices/+/status=24h'): the first rule whose filter
// matches a topic gives its retained message a lifetime; no rule, no expiry.
//
// Each rule keeps its expiring nodes in a doubly linked list ordered by expiry time:
// every rule has one lifetime, so a message stored now always goes to the tail, and the
// sweeper only ever looks at the heads. Storing, replacing and removing are O(1).
// A message with an MQTT 5 Message Expiry Interval also expires then (whichever comes
// first): those deadlines differ per message, so they wait in a min-heap instead.
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

interface Deadline { at: number, node: TrieNode, storedAt: number }

/** MQTT 5 Message Expiry deadlines, earliest first. An entry whose node has been replaced or removed since is skipped when it comes up. */
class DeadlineHeap {
  private readonly entries: Deadline[] = []

  push (entry: Deadline): void {
    const e = this.entries
    e.push(entry)
    for (let i = e.length - 1; i > 0;) {
      const parent = (i - 1) >> 1
      if (e[parent].at <= e[i].at) break
      ;[e[parent], e[i]] = [e[i], e[parent]]
      i = parent
    }
  }

  peek (): Deadline | undefined {
    return this.entries[0]
  }

  pop (): void {
    const e = this.entries
    const last = e.pop() as Deadline
    if (e.length === 0) return
    e[0] = last
    for (let i = 0; ;) {
      const l = 2 * i + 1
      const r = l + 1
      let min = i
      if (l < e.length && e[l].at < e[min].at) min = l
      if (r < e.length && e[r].at < e[min].at) min = r
      if (min === i) break
      ;[e[min], e[i]] = [e[i], e[min]]
      i = min
    }
  }

  clear (): void {
    this.entries.length = 0
  }
}

export class Expiry {
  private readonly lists: ExpiryList[]
  private readonly messageDeadlines = new DeadlineHeap()

  constructor (rules: readonly ExpiryRule[]) {
    this.lists = rules.map(r => new ExpiryList(r))
  }

  /** Gives a just-stored node its expiry time (a rule's, from its stored time; its own MQTT 5 one) and queues it. */
  track (node: TrieNode, topic: string): void {
    this.untrack(node)
    node.expiresAt = 0
    for (const list of this.lists) {
      if (topicMatches(list.rule.filter, topic)) {
        node.expiresAt = node.storedAt + list.rule.ttlMs
        list.append(node)
        break
      }
    }
    const own = node.messageExpiresAt
    if (own === 0) return
    if (node.expiresAt === 0 || own < node.expiresAt) node.expiresAt = own
    this.messageDeadlines.push({ at: own, node, storedAt: node.storedAt })
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
    this.messageDeadlines.clear()
  }

  /** A sweep that failed: these nodes' own deadlines wait again (the rule lists still hold theirs). */
  requeue (nodes: readonly TrieNode[]): void {
    for (const n of nodes) if (n.has && n.messageExpiresAt !== 0) this.messageDeadlines.push({ at: n.messageExpiresAt, node: n, storedAt: n.storedAt })
  }

  /** Up to `max` nodes whose time has come, oldest first per rule, then by their own deadline. */
  due (now: number, max: number): TrieNode[] {
    const out = new Set<TrieNode>()
    for (const list of this.lists) {
      for (let n = list.head; n !== null && n.expiresAt <= now && out.size < max; n = nextOf(n)) out.add(n)
    }
    for (let d = this.messageDeadlines.peek(); d !== undefined && d.at <= now && out.size < max; d = this.messageDeadlines.peek()) {
      this.messageDeadlines.pop()
      if (d.node.has && d.node.storedAt === d.storedAt) out.add(d.node)
    }
    return [...out]
  }
}
