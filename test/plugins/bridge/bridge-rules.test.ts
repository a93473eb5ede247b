// Bridge rules: parsing (flag and file forms), validation errors, topic matching, dedup ids.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig } from '../../../src/config.js'
import { ConfigError } from '../../../src/errors.js'
import { bridgeOptions } from '../../../plugins/bridge/index.js'
import { tempDir } from '../../helpers/system.js'
import { InflightIds } from '../../../plugins/bridge/dedup.js'
import { parseFrom } from '../../../plugins/bridge/format.js'
import { MATCH_ASYNC, MATCH_DURABLE, MATCH_NONE, MATCH_WRITTEN, matchFilter, matchRoute, parseRule, parseRuleFlag, routeByStream } from '../../../plugins/bridge/rules.js'

test('the flag form names filter, stream, ack and store', () => {
  assert.deepEqual(parseRuleFlag('sensors/#=telemetry:durable'), { filter: 'sensors/#', stream: 'telemetry', ack: 'durable', store: null })
  assert.deepEqual(parseRuleFlag('a/+/b=logs'), { filter: 'a/+/b', stream: 'logs', ack: 'durable', store: null })
  assert.deepEqual(parseRuleFlag('x=y:async:redis'), { filter: 'x', stream: 'y', ack: 'async', store: 'redis' })
  assert.deepEqual(parseRuleFlag('x=y:written'), { filter: 'x', stream: 'y', ack: 'written', store: null })
  assert.deepEqual(parseRule({ filter: 'sensors/#', stream: 'telemetry', ack: 'async' }, 'file'), { filter: 'sensors/#', stream: 'telemetry', ack: 'async', store: null })
})

test('a bad stream name, filter or ack is a config error that says what is allowed', () => {
  for (const bad of ['sensors/#=bad/name', 'sensors/#=', 'sensors/#=' + 'x'.repeat(129), 'a/#/b=s', 'a+=s', 's', 'a=s:maybe', 'a=s:durable:disk']) {
    assert.throws(() => parseRuleFlag(bad), (err: Error) => err instanceof ConfigError && /--bridge-rule/.test(err.message), bad)
  }
  assert.throws(() => parseRule({ filter: '#', stream: 'has space' }, 'file'), /stream names are 1-128 characters/)
  assert.throws(() => parseRule({ filter: '#', stream: 's', extra: 1 }, 'file'), /unknown rule key/)
})

test('filters match like MQTT subscriptions; wildcards never match $ topics', () => {
  const cases: Array<[string, string, boolean]> = [
    ['a/b', 'a/b', true], ['a/b', 'a/b/c', false], ['a/b/c', 'a/b', false], ['a/+', 'a/b', true], ['a/+', 'a/', true],
    ['a/+', 'a', false], ['a/+', 'a/b/c', false], ['a/#', 'a', true], ['a/#', 'a/b/c', true], ['#', 'x/y', true],
    ['#', '$SYS/x', false], ['+/x', '$SYS/x', false], ['$SYS/#', '$SYS/x', true], ['+/+', '/x', true], ['ab', 'a', false],
    ['a', 'ab', false], ['sensors/+/temp', 'sensors/k1/temp', true], ['sensors/+/temp', 'sensors/k1/hum', false]
  ]
  for (const [filter, topic, expected] of cases) assert.equal(matchFilter(filter, topic), expected, `${filter} vs ${topic}`)
})

test('a message matching several rules of one stream lands once, with the strongest ack of them', () => {
  const routes = routeByStream([parseRuleFlag('a/#=s:async'), parseRuleFlag('a/b=s:durable'), parseRuleFlag('a/+=s:written'), parseRuleFlag('#=t:async')], name => name)
  assert.equal(routes.length, 2)
  assert.equal(matchRoute(routes[0], 'a/b'), MATCH_DURABLE)
  assert.equal(matchRoute(routes[0], 'a/c'), MATCH_WRITTEN)
  assert.equal(matchRoute(routes[0], 'a/c/d'), MATCH_ASYNC)
  assert.equal(matchRoute(routes[0], 'z'), MATCH_NONE)
  assert.equal(matchRoute(routes[1], 'z'), MATCH_ASYNC)
})

test('packet ids are remembered per client until answered; a retransmission waits for the store', () => {
  const ids = new InflightIds()
  const results: Array<Error | null | undefined> = []
  ids.begin('c1', 7)
  assert.ok(ids.joinDuplicate('c1', 7, err => results.push(err)))
  assert.ok(!ids.joinDuplicate('c2', 7, () => {}))
  assert.equal(results.length, 0, 'no answer before the original is stored')
  ids.delete('c1', 7) // not answered yet: still remembered
  ids.settle('c1', 7, null)
  assert.equal(results.length, 1)
  assert.equal(results[0], null)
  assert.ok(ids.joinDuplicate('c1', 7, err => results.push(err)))
  assert.equal(results.length, 2)
  assert.equal(results[1], null)
  ids.delete('c1', 7)
  assert.ok(!ids.joinDuplicate('c1', 7, () => {}))
  ids.release('c1')
  assert.equal(ids.size, 0)

  // a failed write forgets the id: the next retransmission is appended, and waiters get the error
  const failure = new Error('disk full')
  ids.begin('c1', 8)
  assert.ok(ids.joinDuplicate('c1', 8, err => results.push(err)))
  ids.settle('c1', 8, failure)
  assert.equal(results[2], failure)
  assert.ok(!ids.joinDuplicate('c1', 8, () => {}))
})

test('positions are earliest, latest, an offset or an ISO time', () => {
  assert.deepEqual(parseFrom('earliest'), { kind: 'earliest' })
  assert.deepEqual(parseFrom('42'), { kind: 'offset', offset: 42 })
  assert.deepEqual(parseFrom('2026-01-31T12:00:00Z'), { kind: 'time', ms: Date.parse('2026-01-31T12:00:00Z') })
  assert.equal(parseFrom('yesterday'), null)
})

test('rules in the config file are objects (or flag strings); bad ones are config errors', () => {
  const dir = tempDir().path
  const file = join(dir, 'swallow.json')
  writeFileSync(file, JSON.stringify({ bridge: { rules: [{ filter: 'sensors/#', stream: 'telemetry', ack: 'durable' }, 'logs/#=applogs:async'] } }))
  const config = loadConfig({ argv: ['--config', file], env: {}, pluginOptions: bridgeOptions })
  assert.deepEqual(config.sections.bridge.rules, [
    { filter: 'sensors/#', stream: 'telemetry', ack: 'durable', store: null },
    { filter: 'logs/#', stream: 'applogs', ack: 'async', store: null }
  ])
  const flags = loadConfig({ argv: ['--config', file, '--bridge-rule', 'a/#=x:async', '--bridge-rule', 'b=y'], env: {}, pluginOptions: bridgeOptions })
  assert.deepEqual((flags.sections.bridge.rules as Array<{ stream: string }>).map(r => r.stream), ['x', 'y'])
  writeFileSync(file, JSON.stringify({ bridge: { rules: [{ filter: 'sensors/#', stream: 'no spaces allowed' }] } }))
  assert.throws(() => loadConfig({ argv: ['--config', file], env: {}, pluginOptions: bridgeOptions }),
    (err: Error) => err instanceof ConfigError && /rules"?\[0\].*invalid stream name/.test(err.message))
})
