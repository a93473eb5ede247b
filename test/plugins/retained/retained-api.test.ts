// The admin HTTP API and `swallow retained` against a running broker, with and without
// --admin-token.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runCli, startBroker } from '../../helpers/broker.js'
import { collect, connect } from '../../helpers/mqtt.js'
import { waitFor } from '../../helpers/system.js'

async function api (url: string, token?: string, method = 'GET'): Promise<{ status: number, body: any }> {
  const res = await fetch(url, { method, headers: token !== undefined ? { authorization: `Bearer ${token}` } : {} })
  return { status: res.status, body: await res.json() }
}

test('with --admin-token: list (paginated), one, delete by filter; refused without the token', async () => {
  const broker = await startBroker({ args: ['--sys-interval', 'off', '--admin-token', 's3cret'] })
  try {
    const pub = await connect(broker.mqttUrl)
    for (let i = 0; i < 5; i++) await pub.publishAsync(`site/a/${i}`, `value ${i}`, { qos: 1, retain: true })
    await pub.publishAsync('site/b/bin', Buffer.from([0xff, 0x00, 0xfe]), { qos: 0, retain: true })
    await pub.publishAsync('other', 'o', { qos: 2, retain: true })
    await pub.endAsync()
    const base = `${broker.httpUrl}/api/retained`

    const none = await api(base)
    assert.equal(none.status, 401)
    assert.match(none.body.message, /bearer token/)
    assert.equal((await api(base, 'wrong')).status, 401)
    assert.equal((await api(`${base}/one?topic=other`)).status, 401)
    assert.equal((await api(`${base}?filter=%23`, undefined, 'DELETE')).status, 401)

    const topics: string[] = []
    let cursor: string | null = null
    do {
      const page = await api(`${base}?filter=site/%23&limit=2${cursor !== null ? `&cursor=${cursor}` : ''}`, 's3cret')
      assert.equal(page.status, 200)
      assert.ok(page.body.items.length <= 2)
      topics.push(...page.body.items.map((i: { topic: string }) => i.topic))
      cursor = page.body.cursor
    } while (cursor !== null)
    assert.deepEqual(topics.sort(), ['site/a/0', 'site/a/1', 'site/a/2', 'site/a/3', 'site/a/4', 'site/b/bin'])

    const first = (await api(`${base}?filter=site/a/%2B&limit=1`, 's3cret')).body.items[0]
    assert.deepEqual(Object.keys(first).sort(), ['expiresAt', 'qos', 'size', 'storedAt', 'topic'])
    assert.equal(first.qos, 1)
    assert.equal(first.size, 7)
    assert.ok(Date.now() - Date.parse(first.storedAt) < 60_000)

    const text = await api(`${base}/one?topic=site/a/3`, 's3cret')
    assert.equal(text.status, 200)
    assert.equal(text.body.payloadText, 'value 3')
    assert.equal(Buffer.from(text.body.payloadBase64, 'base64').toString(), 'value 3')
    const bin = await api(`${base}/one?topic=site/b/bin`, 's3cret')
    assert.equal(bin.body.payloadText, null)
    assert.deepEqual([...Buffer.from(bin.body.payloadBase64, 'base64')], [0xff, 0x00, 0xfe])
    assert.equal((await api(`${base}/one?topic=nope`, 's3cret')).status, 404)
    assert.equal((await api(`${base}?filter=a/%23/b`, 's3cret')).status, 400)

    const cleared = await api(`${base}?filter=site/%23`, 's3cret', 'DELETE')
    assert.deepEqual(cleared.body, { filter: 'site/#', cleared: 6 })
    assert.deepEqual((await api(`${base}?filter=%23`, 's3cret')).body.items.map((i: { topic: string }) => i.topic), ['other'], 'the store keeps the rest')
    const sub = await connect(broker.mqttUrl)
    const got = collect(sub)
    await sub.subscribeAsync('#', { qos: 1 })
    await waitFor(() => got.length > 0, 5000, 'the retained message left')
    assert.deepEqual(got.map(m => m.topic), ['other'])
    await sub.endAsync()
  } finally {
    await broker.stop()
  }
})

test('without a token the API answers on a loopback-only listener and is off when the listener is open to other machines', async () => {
  const local = await startBroker({ args: ['--sys-interval', 'off'] })
  try {
    assert.equal((await api(`${local.httpUrl}/api/retained`)).status, 200)
  } finally {
    await local.stop()
  }
  const open = await startBroker({ args: ['--sys-interval', 'off', '--host', '0.0.0.0'] })
  try {
    const port = new URL(open.httpUrl).port
    const res = await api(`http://127.0.0.1:${port}/api/retained`)
    assert.equal(res.status, 403)
    assert.match(res.body.message, /--admin-token/)
  } finally {
    await open.stop()
  }
})

test('swallow retained list, get and clear against a running broker', async () => {
  const broker = await startBroker({ args: ['--sys-interval', 'off', '--admin-token', 'tok'] })
  try {
    const pub = await connect(broker.mqttUrl)
    for (let i = 0; i < 3; i++) await pub.publishAsync(`cfg/d${i}`, `{"v":${i}}`, { qos: 1, retain: true })
    await pub.endAsync()
    const url = ['--url', broker.httpUrl, '--token', 'tok']

    const list = await runCli(['retained', 'list', 'cfg/+', ...url])
    assert.equal(list.code, 0, list.stderr)
    assert.deepEqual(list.stdout.trim().split('\n').map(l => l.split('\t')[0]).sort(), ['cfg/d0', 'cfg/d1', 'cfg/d2'])
    const limited = await runCli(['retained', 'list', '--limit', '2', '--json', ...url])
    assert.equal(limited.stdout.trim().split('\n').length, 2)
    assert.equal(JSON.parse(limited.stdout.split('\n')[0]).qos, 1)

    const get = await runCli(['retained', 'get', 'cfg/d1', ...url])
    assert.equal(get.code, 0)
    assert.equal(get.stdout, '{"v":1}\n')
    const missing = await runCli(['retained', 'get', 'cfg/none', ...url])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /no retained message/)

    const denied = await runCli(['retained', 'list', '--url', broker.httpUrl])
    assert.equal(denied.code, 1)
    assert.match(denied.stderr, /--token/)
    const fromEnv = await runCli(['retained', 'list', '--url', broker.httpUrl], { SWALLOW_ADMIN_TOKEN: 'tok' })
    assert.equal(fromEnv.code, 0, fromEnv.stderr)

    const clear = await runCli(['retained', 'clear', 'cfg/#', ...url])
    assert.equal(clear.code, 0)
    assert.match(clear.stdout, /cleared 3 retained message/)
    assert.equal((await runCli(['retained', 'list', ...url])).stdout, '')

    assert.equal((await runCli(['retained', 'frob'])).code, 2)
    assert.equal((await runCli(['retained', 'get'])).code, 2)
    const down = await runCli(['retained', 'list', '--url', 'http://127.0.0.1:1'])
    assert.equal(down.code, 1)
    assert.match(down.stderr, /cannot reach/)
  } finally {
    await broker.stop()
  }
})

test('an empty --token (as `--token $TOKEN` with TOKEN unset) is no token: the loopback broker answers', async () => {
  const broker = await startBroker({ args: ['--sys-interval', 'off'] })
  try {
    const pub = await connect(broker.mqttUrl)
    await pub.publishAsync('cfg/x', 'on', { qos: 1, retain: true })
    await pub.endAsync()
    for (const args of [['--token'], ['--token', ''], ['--token', '--json']]) {
      const r = await runCli(['retained', 'list', 'cfg/#', '--url', broker.httpUrl, ...args])
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stdout, /cfg\/x/)
    }
    const log = await runCli(['log', 'streams', '--url', broker.httpUrl, '--token'])
    assert.equal(log.code, 0, `swallow log with an empty --token is not a usage error: ${log.stderr}`)
  } finally {
    await broker.stop()
  }
})
