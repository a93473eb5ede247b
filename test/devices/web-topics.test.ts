// The browser client's topic rules (devices/web/app/topics.js, plain browser JS): what
// the subscribe box accepts, what the log filter matches, and when the device-status
// subscription is already covered by another one.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath, pathToFileURL } from 'node:url'

type Topics = {
  matches: (filter: string, topic: string) => boolean
  covers: (outer: string, inner: string) => boolean
  filterError: (filter: string) => string | null
  topicError: (topic: string) => string | null
}
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const load = (): Promise<Topics> => import(pathToFileURL(`${ROOT}devices/web/app/topics.js`).href)

test('topic filters match as the broker matches them', async () => {
  const { matches } = await load()
  assert.ok(matches('devices/+/status', 'devices/d1/status'))
  assert.ok(!matches('devices/+/status', 'devices/d1/telemetry'))
  assert.ok(matches('devices/#', 'devices'), '# matches the parent level too')
  assert.ok(matches('devices/#', 'devices/d1/cmd/ack'))
  assert.ok(!matches('#', '$SYS/broker/uptime'), 'wildcards at the start do not match $ topics')
  assert.ok(matches('$SYS/#', '$SYS/broker/uptime'))
  assert.ok(!matches('a/+', 'a/b/c'))
})

test('a filter covers another when every topic of the second matches the first', async () => {
  const { covers } = await load()
  assert.ok(covers('#', 'devices/+/status'))
  assert.ok(covers('devices/#', 'devices/+/status'))
  assert.ok(covers('+/+/status', 'devices/+/status'))
  assert.ok(!covers('devices/d1/#', 'devices/+/status'))
  assert.ok(!covers('devices/+', 'devices/+/status'))
  assert.ok(!covers('devices/+/status', 'devices/#'))
})

test('the subscribe box and the publish form explain invalid topics', async () => {
  const { filterError, topicError } = await load()
  assert.equal(filterError('devices/+/status'), null)
  assert.equal(filterError('#'), null)
  assert.match(filterError('devices/#/status') ?? '', /last one/)
  assert.match(filterError('devices/d+/status') ?? '', /whole level/)
  assert.match(filterError('') ?? '', /Enter a topic filter/)
  assert.equal(topicError('devices/d1/cmd'), null)
  assert.match(topicError('devices/+/cmd') ?? '', /cannot contain \+ or #/)
})
