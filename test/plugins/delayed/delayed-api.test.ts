// GET /api/delayed and DELETE /api/delayed/{id} behind --admin-token, and `swallow delayed
// list|cancel`: paginated in due order, a cancelled message is never published, bad input
// gets a JSON error.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runCli, startBroker } from '../../helpers/broker.js'
import { collect, connect } from '../../helpers/mqtt.js'
import { waitFor } from '../../helpers/system.js'
import { api, metric } from './delayed-helpers.js'

const TOKEN = 's3cret'

test('list pages in due order, cancel one (never published), JSON errors for bad input, 401 without the token', async () => {
  const broker = await startBroker({ storage: 'memory', args: ['--sys-interval', 'off', '--admin-token', TOKEN] })
  try {
    const base = `${broker.httpUrl}/api/delayed`
    const sub = await connect(broker.mqttUrl)
    const got = collect(sub)
    await sub.subscribeAsync('c/#', { qos: 1 })
    const pub = await connect(broker.mqttUrl, { clientId: 'api-pub' })
    for (let i = 0; i < 5; i++) await pub.publishAsync(`$delayed/${60 + i}/far/${i}`, `far ${i}`, { qos: 1 })
    await pub.publishAsync('$delayed/2/c/t', 'cancelled', { qos: 2 })
    await pub.publishAsync('$delayed/3/c/t', 'kept', { qos: 1 })

    assert.equal((await api(base)).status, 401)
    assert.equal((await api(`${base}/x`, undefined, 'DELETE')).status, 401)

    const ids: string[] = []
    const topics: string[] = []
    let cursor: string | null = null
    do {
      const page = await api(`${base}?limit=2${cursor !== null ? `&cursor=${cursor}` : ''}`, TOKEN)
      assert.equal(page.status, 200)
      assert.ok(page.body.items.length <= 2)
      assert.equal(page.body.pending, 7)
      for (const item of page.body.items) {
        ids.push(item.id)
        topics.push(item.topic)
      }
      cursor = page.body.cursor
    } while (cursor !== null)
    assert.deepEqual(topics, ['c/t', 'c/t', 'far/0', 'far/1', 'far/2', 'far/3', 'far/4'])
    const first = (await api(`${base}?limit=1`, TOKEN)).body.items[0]
    assert.deepEqual(Object.keys(first).sort(), ['dueAt', 'expiresAt', 'id', 'publisher', 'qos', 'retain', 'size', 'storedAt', 'topic'])
    assert.deepEqual(first.publisher, { clientId: 'api-pub', username: null })
    assert.equal(first.qos, 2)
    assert.equal(first.size, 'cancelled'.length)
    assert.ok(Date.parse(first.dueAt) - Date.parse(first.storedAt) === 2000)

    const cancel = await api(`${base}/${ids[0]}`, TOKEN, 'DELETE')
    assert.deepEqual(cancel, { status: 200, body: { cancelled: ids[0] } })
    assert.equal((await api(`${base}/${ids[0]}`, TOKEN, 'DELETE')).status, 404)
    const bad = await api(`${base}/not-an-id`, TOKEN, 'DELETE')
    assert.equal(bad.status, 400)
    assert.match(bad.body.error, /is not a delayed message id/)
    assert.equal((await api(`${base}?limit=0`, TOKEN)).status, 400)
    assert.equal((await api(`${base}?limit=abc`, TOKEN)).status, 400)
    assert.match((await api(`${base}?cursor=zzz`, TOKEN)).body.error, /cursor/)
    assert.equal((await api(`${base}/${ids[0]}`, TOKEN)).status, 405)

    // Same topic, due in order: when 'kept' arrives, the cancelled one would have come first.
    await waitFor(() => got.length === 1, 6000, 'the message that was kept')
    assert.deepEqual(got.map(m => m.payload), ['kept'])
    assert.equal(await metric(broker.httpUrl, 'swallow_delayed_cancelled_total'), 1)
    await Promise.all([sub.endAsync(), pub.endAsync()])
  } finally {
    await broker.stop()
  }
})

test('swallow delayed list|cancel against a running broker; usage errors exit 2, a refused call exits 1', async () => {
  const broker = await startBroker({ storage: 'memory', args: ['--sys-interval', 'off', '--admin-token', TOKEN] })
  try {
    const pub = await connect(broker.mqttUrl, { clientId: 'cli-pub' })
    for (let i = 0; i < 3; i++) await pub.publishAsync(`$delayed/600/cli/${i}`, `m${i}`, { qos: 1 })
    await pub.endAsync()
    const common = ['--url', broker.httpUrl, '--token', TOKEN]
    const listed = await runCli(['delayed', 'list', ...common])
    assert.equal(listed.code, 0, listed.stderr)
    const lines = listed.stdout.trim().split('\n')
    assert.equal(lines.length, 3)
    assert.match(lines[0], /^\d{13}-[0-9a-f]{12}\t\d{4}-\d\d-\d\dT.*\tcli\/0\tqos 1\t2 B\tcli-pub$/)
    const json = await runCli(['delayed', 'list', '--json', '--limit', '2', ...common])
    assert.deepEqual(json.stdout.trim().split('\n').map(l => JSON.parse(l).topic), ['cli/0', 'cli/1'])

    const id = lines[0].split('\t')[0]
    const cancelled = await runCli(['delayed', 'cancel', id, ...common])
    assert.equal(cancelled.code, 0, cancelled.stderr)
    assert.equal(cancelled.stdout, `cancelled ${id}\n`)
    const again = await runCli(['delayed', 'cancel', id, ...common])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /^swallow delayed: no pending delayed message .* \(published or cancelled already\)\n$/)
    const noToken = await runCli(['delayed', 'list', '--url', broker.httpUrl])
    assert.equal(noToken.code, 1)
    assert.match(noToken.stderr, /pass --token or set SWALLOW_ADMIN_TOKEN/)
    assert.equal((await runCli(['delayed', 'cancel', ...common])).code, 2)
    assert.equal((await runCli(['delayed', 'drop', ...common])).code, 2)
    assert.equal((await runCli(['delayed', 'list', '--limit', 'x', ...common])).code, 2)
    const unreachable = await runCli(['delayed', 'list', '--url', 'http://127.0.0.1:1'])
    assert.equal(unreachable.code, 1)
    assert.match(unreachable.stderr, /cannot reach http:\/\/127.0.0.1:1/)
  } finally {
    await broker.stop()
  }
})
