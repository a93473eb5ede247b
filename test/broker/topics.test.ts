// Topic filter matching (src/topics.ts): the spec's examples, and agreement with the plain
// split-by-level definition on every filter and topic of up to three levels.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { topicMatches } from '../../src/topics.js'

test('the examples of MQTT 3.1.1 section 4.7 (# and + wildcards, $ topics)', () => {
  const cases: Array<[string, string, boolean]> = [
    ['sport/tennis/player1/#', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
    ['sport/#', 'sport', true],
    ['#', 'sport/tennis', true],
    ['sport/tennis/+', 'sport/tennis/player1', true],
    ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
    ['sport/+', 'sport', false],
    ['sport/+', 'sport/', true],
    ['+/+', '/finance', true],
    ['/+', '/finance', true],
    ['+', '/finance', false],
    ['#', '$SYS/broker/uptime', false], // MQTT-4.7.2-1
    ['+/monitor/Clients', '$SYS/monitor/Clients', false],
    ['$SYS/#', '$SYS/monitor/Clients', true],
    ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
    ['sport/tennis', 'sport/tennis', true],
    ['sport/tennis', 'sport/tennis/', false],
    ['sport/tennis', 'sport/tenni', false]
  ]
  for (const [filter, topic, expected] of cases) assert.equal(topicMatches(filter, topic), expected, `${filter} vs ${topic}`)
})

function byLevels (filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true
    if (i >= t.length) return false
    if (f[i] !== '+' && f[i] !== t[i]) return false
  }
  return f.length === t.length
}

test('agrees with matching level by level for every filter and topic of up to three levels', () => {
  const levels = ['a', 'b', '', 'ab', '$x']
  const all = (alphabet: string[], depth: number): string[] => {
    const out: string[] = []
    const grow = (prefix: string[]): void => {
      if (prefix.length > 0) out.push(prefix.join('/'))
      if (prefix.length < depth) for (const l of alphabet) grow([...prefix, l])
    }
    grow([])
    return out
  }
  const topics = all(levels, 3)
  // valid filters only: '#' is the last level
  const filters = all([...levels, '+', '#'], 3).filter(f => !f.split('/').slice(0, -1).includes('#'))
  let checked = 0
  for (const filter of filters) {
    for (const topic of topics) {
      assert.equal(topicMatches(filter, topic), byLevels(filter, topic), `${JSON.stringify(filter)} vs ${JSON.stringify(topic)}`)
      checked++
    }
  }
  assert.ok(checked > 40_000)
})
