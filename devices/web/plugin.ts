// The browser client plugin: serves the page built by devices/web/build.js at `/` on the
// HTTP listener, the operator dashboard at /dashboard (it asks for the admin token and reads
// /api), their hashed assets under /assets/, and /api/web/config, which tells the
// page where the MQTT-over-WebSocket listener is (same host, --ws-port, --ws-path).
import { access } from 'node:fs/promises'
import type { ServerResponse } from 'node:http'
import { join } from 'node:path'
import { TLSSocket } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { sendJson } from '../../src/listeners/http.js'
import type { Plugin } from '../../src/plugin.js'
import { pluginSettings } from '../../src/plugin.js'
import { assetFile, sendFile } from './static.js'

interface WebSettings {
  client: boolean
  devicePrefix: string
}

/** What the page reads before it connects. */
export interface WebClientConfig {
  /** null when the WebSocket listener is off; 0 when it was bound to a free port (see /healthz). */
  wsPort: number | null
  wsPath: string
  devicePrefix: string
  /**
   * This page's origin, and whether --ws-origins lets it open the WebSocket: a browser
   * reports a refused handshake like an unreachable broker, so the page is told up front.
   */
  pageOrigin: string
  pageOriginAllowed: boolean
}

/** This file compiles to dist/devices/web/plugin.js; build.js writes the bundle to dist/web/. */
export const DEFAULT_BUNDLE_DIR = fileURLToPath(new URL('../../web/', import.meta.url))

export const BUILD_COMMAND = 'node devices/web/build.js'

export function createWebPlugin (bundleDir: string = DEFAULT_BUNDLE_DIR): Plugin {
  return {
    name: 'web',
    options: [
      { key: 'web.client', type: 'bool', default: true, help: 'serve the browser client at / on the HTTP port (false turns it off)' },
      { key: 'web.devicePrefix', type: 'string', default: 'devices', help: 'topic prefix the browser client reads <prefix>/+/status device states from' }
    ],
    async setup ({ config, http, log }) {
      const settings = pluginSettings<WebSettings>(config, 'web')
      if (settings.client === false) return
      const index = join(bundleDir, 'index.html')
      if (!await exists(index)) {
        log.warn({ bundleDir }, `browser client not built: / answers 503 until you run "${BUILD_COMMAND}"`)
      }
      const pageConfig = {
        wsPort: config.wsPort,
        wsPath: config.wsPath,
        devicePrefix: settings.devicePrefix ?? 'devices'
      }

      http.add('GET', '/', async (req, res) => {
        if (!await sendFile(req, res, { path: index, caching: 'revalidate' })) sendNotBuilt(res, bundleDir)
      })
      const dashboard = join(bundleDir, 'dashboard.html')
      http.add('GET', '/dashboard', async (req, res) => {
        if (!await sendFile(req, res, { path: dashboard, caching: 'revalidate' })) sendNotBuilt(res, bundleDir)
      })
      http.add('GET', '/assets/*', async (req, res, url) => {
        const file = assetFile(bundleDir, safeDecode(url.pathname.slice('/assets/'.length)))
        if (file === null || !await sendFile(req, res, file)) {
          if (!await exists(index)) return sendNotBuilt(res, bundleDir)
          sendJson(res, 404, { error: `no asset ${url.pathname}; reload the page (the client may have been rebuilt)` })
        }
      })
      // Public: the page reads it before the user has any token.
      http.add('GET', '/api/web/config', (req, res) => {
        res.setHeader('cache-control', 'no-store')
        // The origin the page was loaded from, as the browser will send it in the WebSocket handshake.
        const pageOrigin = `${req.socket instanceof TLSSocket ? 'https' : 'http'}://${req.headers.host ?? ''}`
        const answer: WebClientConfig = { ...pageConfig, pageOrigin, pageOriginAllowed: config.wsOrigins.length === 0 || config.wsOrigins.includes(pageOrigin) }
        sendJson(res, 200, answer)
      }, { public: true })
    }
  }
}

export const webPlugin: Plugin = createWebPlugin()

/** A malformed %-escape is a name no asset has, not a server error. */
function safeDecode (text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return ''
  }
}

function exists (path: string): Promise<boolean> {
  return access(path).then(() => true, () => false)
}

function sendNotBuilt (res: ServerResponse, bundleDir: string): void {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Swallow: browser client not built</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem">
<h1>The browser client has not been built</h1>
<p>Swallow serves its browser client from <code>${escapeHtml(bundleDir)}</code>, which has no <code>index.html</code>.</p>
<p>Build it in the Swallow folder, then reload this page (no restart needed):</p>
<pre>${BUILD_COMMAND}</pre>
<p>(<code>npm run build</code> runs it too.) The broker itself is running: MQTT, WebSocket,
<a href="/healthz">/healthz</a> and <a href="/metrics">/metrics</a> work without the client.</p>
</body></html>
`
  res.writeHead(503, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'cache-control': 'no-store',
    'retry-after': '10'
  })
  res.end(html)
}

function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)
}
