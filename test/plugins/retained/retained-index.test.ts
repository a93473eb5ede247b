// The retained index: wildcard matching against a brute-force reference, the stream Aedes
// reads, and the admin API's paging, on the in-process store (memory backend).
import { test } from 'node:test'
import { Transform, type Readable } from 'node:stream'
import assert from 'node:assert/strict'
import { Counter, Registry } from 'prom-client'
import pino from 'pino'
import { topicMatches } from '../../../src/topics.js'
import { MemoryBackend } from '../../../plugins/retained/level-backend.js'
import { RetainedStore } from '../../../plugins/retained/store.js'
import type { RetainedPacket } from '../../../plugins/retained/stream.js'
import { TopicTrie, TrieMatcher } from '../../../plugins/retained/trie.js'

// Deterministic PRNG so a failure can be replayed.
function rng (seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff
  }
}

const LEVELS = ['a', 'b', 'c', '', '$x', 'sensor', 'd+e']

function randomTopic (r: () => number): string {
  const n = 1 + Math.floor(r() * 4)
  return Array.from({ length: n }, (_, i) => {
    const l = LEVELS[Math.floor(r() * LEVELS.length)]
    return i > 0 && l === '$x' ? 'x$' : l.replace('+', '') // + is not valid in topic names; $ only leads
  }).join('/')
}

function randomFilter (r: () => number): string {
  const n = 1 + Math.floor(r() * 4)
  const levels: string[] = []
  for (let i = 0; i < n; i++) {
    const x = r()
    if (x < 0.25) levels.push('+')
    else if (x < 0.35 && i === n - 1) levels.push('#')
    else levels.push(randomTopic(r).split('/')[0])
  }
  return levels.join('/')
}

/** The reference: the core's matcher, plus MQTT-4.7.2-1 ($ topics never match a leading wildcard). */
function reference (filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false
  return topicMatches(filter, topic)
}

function matchAll (trie: TopicTrie, filter: string): string[] {
  const out: string[] = []
  const m = new TrieMatcher(trie.root, filter)
  for (let n = m.next(); n !== null; n = m.next()) out.push(n.topic())
  return out
}

const META = { qos: 1 as const, storedAt: 1, size: 1, seq: 0 }

test('wildcard matching agrees with a brute-force reference on random topic sets (+ at the ends, empty levels, $ topics)', () => {
  const fixed = ['#', '+', '+/#', '/#', '+/+', '/+', '+/', 'a/#', 'a/+', '+/a', '$x/#', '$x/+', '+/+/+/+', 'a//b', '/', '//', '$x']
  for (let seed = 1; seed <= 40; seed++) {
    const r = rng(seed)
    const trie = new TopicTrie()
    const topics = new Set<string>()
    for (let i = 0; i < 150; i++) topics.add(randomTopic(r))
    for (const t of topics) trie.set(t, META)
    // Remove some, to exercise pruning.
    for (const t of [...topics].filter(() => r() < 0.3)) {
      trie.remove(trie.find(t)!)
      topics.delete(t)
    }
    assert.equal(trie.count, topics.size)
    const filters = [...fixed, ...Array.from({ length: 60 }, () => randomFilter(r))]
    for (const f of filters) {
      const got = matchAll(trie, f)
      assert.equal(new Set(got).size, got.length, `no duplicates for ${f}`)
      assert.deepEqual(got.sort(), [...topics].filter(t => reference(f, t)).sort(), `seed ${seed}, filter ${JSON.stringify(f)}`)
    }
  }
})

function newStore (): RetainedStore {
  const registry = new Registry()
  return new RetainedStore(new MemoryBackend(), {
    limits: { maxMessages: null, maxPayload: null },
    expiry: [],
    refused: new Counter({ name: 'r', help: 'r', labelNames: ['reason'], registers: [registry] }),
    expired: new Counter({ name: 'e', help: 'e', registers: [registry] })
  }, pino({ level: 'silent' }))
}

async function readAll (stream: AsyncIterable<unknown>): Promise<RetainedPacket[]> {
  const out: RetainedPacket[] = []
  for await (const p of stream) out.push(p as RetainedPacket)
  return out
}

test('the stream for a SUBSCRIBE with overlapping filters gives each retained message once, with its payload and QoS', async () => {
  const store = newStore()
  await store.open()
  for (let i = 0; i < 1000; i++) await store.store({ topic: `dev/${i}/status`, payload: `s${i}`, qos: (i % 3) as 0 | 1 | 2 })
  await store.store({ topic: 'dev/7/status', payload: Buffer.alloc(0), qos: 0 }) // cleared
  const got = await readAll(store.stream(['dev/+/status', 'dev/#', 'dev/1/status']))
  assert.equal(got.length, 999)
  assert.equal(new Set(got.map(p => p.topic)).size, 999)
  const p5 = got.find(p => p.topic === 'dev/5/status')!
  assert.equal(p5.payload.toString(), 's5')
  assert.equal(p5.qos, 2)
  assert.equal(p5.retain, true)
  assert.equal(got.find(p => p.topic === 'dev/7/status'), undefined)
  await store.close()
})

test('the stream never stalls, whichever way and at whatever pace it is read', async () => {
  const store = newStore()
  await store.open()
  for (let i = 0; i < 3000; i++) await store.store({ topic: `s/${i}`, payload: 'x', qos: 1 })
  const consumers: Record<string, (s: Readable) => Promise<number>> = {
    'readable loop': s => new Promise(resolve => {
      let n = 0
      s.on('readable', () => { while (s.read() !== null) n++ })
      s.on('end', () => resolve(n))
    }),
    'pipe, callback at once': s => pipeCount(s, cb => cb()),
    'pipe, callback next tick': s => pipeCount(s, cb => process.nextTick(cb)),
    'pipe, callback on setImmediate': s => pipeCount(s, cb => setImmediate(cb)),
    'pipe, mixed': s => { let i = 0; return pipeCount(s, cb => (i++ % 3 === 0 ? setImmediate(cb) : i % 3 === 1 ? process.nextTick(cb) : cb())) }
  }
  for (const [name, consume] of Object.entries(consumers)) {
    const counted = await Promise.race([consume(store.stream(['#'])), new Promise<string>(resolve => setTimeout(() => resolve('stalled'), 5000))])
    assert.equal(counted, 3000, name)
  }
  await store.close()
})

function pipeCount (s: Readable, later: (cb: () => void) => void): Promise<number> {
  let n = 0
  return new Promise(resolve => {
    s.pipe(new Transform({ objectMode: true, transform (_p, _e, cb) { if (++n === 3000) resolve(n); later(() => cb()) } }))
  })
}

test('admin paging visits every message once even when messages are added and removed between pages', async () => {
  const store = newStore()
  await store.open()
  for (let i = 0; i < 500; i++) await store.store({ topic: `p/${i % 10}/${i}`, payload: 'x', qos: 0 })
  const seen: string[] = []
  let cursor: string | null = null
  let page = 0
  do {
    const res = store.list('p/#', cursor, 37)
    seen.push(...res.items.map(i => i.topic))
    cursor = res.cursor
    if (page++ === 3) {
      // A cursor not in the cache (as after many other requests) must resume at the same place.
      (store as unknown as { openCursors: Map<string, unknown> }).openCursors.clear()
      // Removing the message the cursor points at must not lose the position either.
      await store.store({ topic: seen[seen.length - 1], payload: '', qos: 0 })
    }
    if (page === 6) for (let i = 0; i < 5; i++) await store.store({ topic: `p/${i}/added`, payload: 'x', qos: 0 })
  } while (cursor !== null)
  // Every message there all along is listed once; one added meanwhile may or may not be.
  assert.equal(new Set(seen).size, seen.length)
  assert.equal(seen.filter(t => !t.endsWith('/added')).length, 500)
  assert.throws(() => store.list('p/#', 'garbage', 10), /invalid cursor/)
  await store.close()
})
