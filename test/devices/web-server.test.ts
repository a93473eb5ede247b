// The browser client's HTTP side: the page, its hashed assets, the config the page reads,
// and the 503 page that says how to build the client when it was not built.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { pino } from 'pino'
import { loadConfig } from '../../src/config.js'
import { HttpRoutes, listenHttp } from '../../src/listeners/http.js'
import type { Listener } from '../../src/listeners/listen.js'
import { createWebPlugin } from '../../devices/web/plugin.js'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { freePort, tempDir } from '../helpers/system.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

let broker: BrokerProcess
let wsPort: number

before(async () => {
  const built = spawnSync(process.execPath, ['devices/web/build.js'], { cwd: ROOT, encoding: 'utf8' })
  assert.equal(built.status, 0, `node devices/web/build.js failed:\n${built.stderr}`)
  wsPort = await freePort()
  broker = await startBroker({ storage: 'memory', args: ['--ws-port', String(wsPort)] })
})

after(async () => {
  await broker?.stop()
})

test('the browser client is served at / with its assets, content types and caching headers', async () => {
  const page = await fetch(`${broker.httpUrl}/`)
  assert.equal(page.status, 200)
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8')
  assert.equal(page.headers.get('cache-control'), 'no-cache', 'the page is revalidated, so a rebuild shows at once')
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/)
  const html = await page.text()
  const script = html.match(/src="(\/assets\/main-[A-Z0-9]+\.js)"/)?.[1]
  const style = html.match(/href="(\/assets\/main-[A-Z0-9]+\.css)"/)?.[1]
  assert.ok(script && style, `index.html names hashed assets: ${html.slice(0, 600)}`)
  assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org)/, 'nothing is loaded from another site')

  const js = await fetch(broker.httpUrl + script)
  assert.equal(js.status, 200)
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8')
  assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable')
  assert.match(await js.text(), /mqtt/i, 'MQTT.js is bundled in')
  const css = await fetch(broker.httpUrl + style)
  assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8')

  const etag = js.headers.get('etag') ?? ''
  const again = await fetch(broker.httpUrl + script, { headers: { 'if-none-match': etag } })
  assert.equal(again.status, 304)
})

test('assets are sent gzipped to browsers that accept it', async () => {
  const html = await (await fetch(`${broker.httpUrl}/`)).text()
  const script = html.match(/src="(\/assets\/[^"]+\.js)"/)?.[1] ?? ''
  const { hostname, port } = new URL(broker.httpUrl)
  // fetch() decompresses transparently; node:http shows the bytes on the wire.
  const { request } = await import('node:http')
  const raw = await new Promise<{ encoding?: string, vary?: string, body: Buffer }>((resolve, reject) => {
    request({ hostname, port, path: script, headers: { 'accept-encoding': 'gzip, br' } }, res => {
      const chunks: Buffer[] = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => resolve({ encoding: res.headers['content-encoding'], vary: res.headers.vary, body: Buffer.concat(chunks) }))
    }).on('error', reject).end()
  })
  assert.equal(raw.encoding, 'gzip')
  assert.equal(raw.vary, 'Accept-Encoding')
  assert.match(gunzipSync(raw.body).toString('utf8'), /mqtt/i)
})

test('/api/web/config tells the page the WebSocket port and path, the device prefix, and whether --ws-origins accepts its origin', async () => {
  const res = await fetch(`${broker.httpUrl}/api/web/config`)
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('cache-control'), 'no-store')
  assert.deepEqual(await res.json(), { wsPort, wsPath: '/mqtt', devicePrefix: 'devices', pageOrigin: new URL(broker.httpUrl).origin, pageOriginAllowed: true })
})

test('asset names that are not plain file names are refused, and unknown assets are 404', async () => {
  for (const path of ['/assets/..%2Fpackage.json', '/assets/%2E%2E%2Findex.html', '/assets/.hidden', '/assets/%E0%A4%A', '/assets/nope-123.js']) {
    const res = await fetch(broker.httpUrl + path)
    assert.equal(res.status, 404, path)
  }
})

test('without a build, / answers 503 with a page that says how to build the client', async () => {
  const empty = tempDir()
  const routes = new HttpRoutes()
  const log = pino({ level: 'silent' })
  const plugin = createWebPlugin(empty.path)
  const config = loadConfig({ argv: [], env: {}, pluginOptions: plugin.options })
  await plugin.setup({ config, http: routes, log } as unknown as Parameters<typeof plugin.setup>[0])
  let server: Listener | undefined
  try {
    server = await listenHttp('127.0.0.1', 0, routes, { token: null, loopbackOnly: true }, log)
    const res = await fetch(`${server.url}/`)
    assert.equal(res.status, 503)
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8')
    const body = await res.text()
    assert.match(body, /has not been built/)
    assert.match(body, /node devices\/web\/build\.js/)
    const asset = await fetch(`${server.url}/assets/main-ABC.js`)
    assert.equal(asset.status, 503)
  } finally {
    await server?.close()
    empty.remove()
  }
})

test('--web-client false turns the browser client off', async () => {
  const off = await startBroker({ storage: 'memory', args: ['--web-client', 'false'] })
  try {
    assert.equal((await fetch(`${off.httpUrl}/`)).status, 404)
    assert.equal((await fetch(`${off.httpUrl}/healthz`)).status, 200)
  } finally {
    await off.stop()
  }
})
