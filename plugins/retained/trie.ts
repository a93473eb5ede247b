// The in-memory index of retained topics: a trie with one node per topic level, holding
// each retained message's metadata (never its payload). A wildcard filter walks only the
// branches it can match, lazily, so `#` over a million topics is a cursor, not a copy.
//
// Children keep insertion order (a node with one child holds it directly, not in a Map), and each child gets an increasing ordinal when it is
// added: the walk order is therefore the order of the ordinal paths, which is what makes
// the admin API's cursors survive deletions.
import type { RetainedMeta } from './backend.js'

/** What a node points to below it: nothing, its only child (most nodes), or a map of them. */
type Kids = TrieNode | Map<string, TrieNode> | null

/** Expiry-list links, only on nodes whose message expires (see expiry.ts). */
export interface ExpiryLink {
  prev: TrieNode | null
  next: TrieNode | null
  list: unknown
}

// Kept small on purpose: a million topics are a million or more of these.
export class TrieNode {
  kids: Kids = null
  /** Ordinal for the next child added. */
  nextOrd = 0
  /** QoS of the retained message stored at this exact topic, or -1 when there is none. */
  qos: -1 | 0 | 1 | 2 = -1
  size = 0
  storedAt = 0
  seq = 0
  /** 0 = never expires (the earlier of an expiry rule's deadline and the MQTT 5 Message Expiry). */
  expiresAt = 0
  /** The MQTT 5 Message Expiry deadline alone (0 = none). */
  messageExpiresAt = 0
  exp: ExpiryLink | null = null

  constructor (readonly parent: TrieNode | null, readonly level: string, readonly ord: number) {}

  get has (): boolean {
    return this.qos !== -1
  }

  child (level: string): TrieNode | undefined {
    const kids = this.kids
    if (kids === null) return undefined
    if (kids instanceof TrieNode) return kids.level === level ? kids : undefined
    return kids.get(level)
  }

  /** Children in insertion order. */
  children (): Iterator<TrieNode> {
    const kids = this.kids
    if (kids === null) return EMPTY[Symbol.iterator]()
    if (kids instanceof TrieNode) return [kids][Symbol.iterator]()
    return kids.values()
  }

  hasChildren (): boolean {
    return this.kids !== null
  }

  addChild (level: string): TrieNode {
    const child = new TrieNode(this, level, this.nextOrd++)
    const kids = this.kids
    if (kids === null) this.kids = child
    else if (kids instanceof TrieNode) this.kids = new Map([[kids.level, kids], [level, child]])
    else kids.set(level, child)
    return child
  }

  removeChild (level: string): void {
    const kids = this.kids
    if (kids === null) return
    if (kids instanceof TrieNode) {
      if (kids.level === level) this.kids = null
    } else {
      kids.delete(level)
      // A map stays a map once made: a walk may be iterating it.
      if (kids.size === 0) this.kids = null
    }
  }

  /** The topic of this node, rebuilt from the levels up to the root. */
  topic (): string {
    let topic = this.level
    for (let n = this.parent; n !== null && n.parent !== null; n = n.parent) topic = n.level + '/' + topic
    return topic
  }

  /** Ordinals from the root's child down to this node (the admin API's cursor). */
  ordPath (): number[] {
    const path: number[] = []
    for (let n: TrieNode | null = this; n !== null && n.parent !== null; n = n.parent) path.push(n.ord)
    return path.reverse()
  }

  meta (): RetainedMeta {
    const meta: RetainedMeta = { qos: this.qos as 0 | 1 | 2, storedAt: this.storedAt, size: this.size, seq: this.seq }
    if (this.messageExpiresAt !== 0) meta.expiresAt = this.messageExpiresAt
    return meta
  }
}

const EMPTY: TrieNode[] = []

export class TopicTrie {
  readonly root = new TrieNode(null, '', 0)
  count = 0
  bytes = 0

  find (topic: string): TrieNode | undefined {
    let node: TrieNode | undefined = this.root
    let start = 0
    while (node !== undefined) {
      const slash = topic.indexOf('/', start)
      const level = slash === -1 ? topic.slice(start) : topic.slice(start, slash)
      node = node.child(level)
      if (slash === -1) return node?.has === true ? node : undefined
      start = slash + 1
    }
    return undefined
  }

  /** Sets the metadata of a topic; returns its node. */
  set (topic: string, meta: RetainedMeta): TrieNode {
    let node = this.root
    let start = 0
    for (;;) {
      const slash = topic.indexOf('/', start)
      const level = slash === -1 ? topic.slice(start) : topic.slice(start, slash)
      node = node.child(level) ?? node.addChild(level)
      if (slash === -1) break
      start = slash + 1
    }
    if (node.has) this.bytes -= node.size
    else this.count++
    node.qos = meta.qos
    node.size = meta.size
    node.storedAt = meta.storedAt
    node.seq = meta.seq
    node.messageExpiresAt = meta.expiresAt ?? 0
    this.bytes += meta.size
    return node
  }

  /** Removes the message at `node` and prunes the branches left empty. */
  remove (node: TrieNode): void {
    if (!node.has) return
    node.qos = -1
    this.count--
    this.bytes -= node.size
    let n: TrieNode = node
    while (n.parent !== null && !n.has && !n.hasChildren()) {
      n.parent.removeChild(n.level)
      n = n.parent
    }
  }

  clear (): void {
    this.root.kids = null
    this.count = 0
    this.bytes = 0
  }
}

const DOLLAR = 36

interface Frame {
  it: Iterator<TrieNode>
  /** Index of the filter level the children are matched against; -1 inside a `#` subtree. */
  i: number
  /** Children whose level starts with $ are skipped (wildcard at the first level, MQTT-4.7.2-1). */
  skipDollar: boolean
}

/**
 * Walks the nodes holding a retained message that match `filter`, depth first, lazily.
 * The trie may change between calls to next(): Map iterators see additions and skip
 * deletions, so the walk never fails; it may miss what was added behind it.
 */
export class TrieMatcher {
  private readonly levels: string[]
  private readonly stack: Frame[] = []
  private readonly ready: TrieNode[] = []

  constructor (root: TrieNode, filter: string) {
    this.levels = filter.split('/')
    this.visit(root, 0)
  }

  next (): TrieNode | null {
    for (;;) {
      const found = this.ready.pop()
      if (found !== undefined) return found
      const top = this.stack[this.stack.length - 1]
      if (top === undefined) return null
      const r = top.it.next()
      if (r.done === true) {
        this.stack.pop()
        continue
      }
      const child = r.value
      if (top.skipDollar && child.level.charCodeAt(0) === DOLLAR) continue
      if (top.i === -1) {
        // Inside `#`: every node of the subtree (pre-order: the node, then its children).
        if (child.hasChildren()) this.stack.push({ it: child.children(), i: -1, skipDollar: false })
        if (child.has) return child
      } else {
        this.visit(child, top.i)
      }
    }
  }

  /** `node` matched the filter's first `i` levels. */
  private visit (node: TrieNode, i: number): void {
    const levels = this.levels
    for (;;) {
      if (i === levels.length) {
        if (node.has) this.ready.push(node)
        return
      }
      const level = levels[i]
      if (level === '#') {
        // `a/#` also matches `a` itself (MQTT-4.7.1-2); `#` alone matches no $ topic.
        if (node.has && node.parent !== null) this.ready.push(node)
        if (node.hasChildren()) this.stack.push({ it: node.children(), i: -1, skipDollar: i === 0 })
        return
      }
      if (level === '+') {
        if (node.hasChildren()) this.stack.push({ it: node.children(), i: i + 1, skipDollar: i === 0 })
        return
      }
      const child = node.child(level)
      if (child === undefined) return
      node = child
      i++
    }
  }
}

/** A user-facing reason when `filter` is not a valid MQTT topic filter, else null. */
export function filterProblem (filter: string): string | null {
  if (filter.length === 0) return 'the filter is empty'
  if (filter.includes('\u0000')) return 'the filter contains a NUL character'
  const levels = filter.split('/')
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return '# must be a whole level, and the last one'
    if (l.includes('+') && l !== '+') return '+ must be a whole level'
  }
  return null
}
