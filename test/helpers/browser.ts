// Debian's chromium driven by playwright-core, for the browser client's tests.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { needBinary } from './system.js'

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** A skip reason when chromium is missing (outside CI; a failure in CI). */
export function needChromium (): string | false {
  return existsSync(CHROMIUM) ? false : needBinary('chromium', 'chromium')
}

/** Builds the browser client into dist/web/ (the page the broker serves), then starts chromium. */
export async function launchBrowser (): Promise<Browser> {
  const built = spawnSync(process.execPath, ['devices/web/build.js'], { cwd: ROOT, encoding: 'utf8' })
  assert.equal(built.status, 0, `node devices/web/build.js failed:\n${built.stderr}`)
  return await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
}

/** A page with its uncaught errors collected, so a test can insist there were none. */
export async function openPage (browser: Browser, url: string, viewport = { width: 1360, height: 1000 }): Promise<{ page: Page, errors: string[] }> {
  const page = await browser.newPage({ viewport })
  const errors: string[] = []
  page.on('pageerror', err => errors.push(err.message))
  page.on('console', msg => { if (msg.type() === 'error') errors.push(msg.text()) })
  await page.goto(url)
  return { page, errors }
}
