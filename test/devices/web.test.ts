// The browser client end to end: a real Swallow, Debian's chromium driven by
// playwright-core, and mosquitto_pub / mosquitto_sub on the other side.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import type { Browser, Page } from 'playwright-core'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { launchBrowser, needChromium, openPage as open, ROOT } from '../helpers/browser.js'
import { run } from '../helpers/mqtt.js'
import { freePort, needBinary, tempDir } from '../helpers/system.js'

const OUTPUT = `${ROOT}test-output`

const skip = needChromium() || needBinary('mosquitto_pub', 'mosquitto-clients') || needBinary('mosquitto_sub', 'mosquitto-clients')

let broker: BrokerProcess
let browser: Browser

before(async () => {
  if (skip) return
  browser = await launchBrowser()
  const wsPort = await freePort()
  broker = await startBroker({ storage: 'memory', args: ['--ws-port', String(wsPort)] })
})

after(async () => {
  await browser?.close()
  await broker?.stop()
})

const openPage = async (url: string): Promise<{ page: Page, errors: string[] }> => await open(browser, url)

/**
 * Writes test-output/<name> for a person to look at. The viewport is made as tall as the
 * page first: rows out of view are not rendered (content-visibility), so a full-page
 * capture of a short viewport would show them blank.
 */
async function screenshot (page: Page, name: string, width: number): Promise<void> {
  mkdirSync(OUTPUT, { recursive: true })
  await page.setViewportSize({ width, height: 800 })
  const height = await page.evaluate(() => document.documentElement.scrollHeight)
  await page.setViewportSize({ width, height })
  await page.waitForTimeout(100)
  await page.screenshot({ path: `${OUTPUT}/${name}` })
}

async function mosquittoPub (...args: string[]): Promise<void> {
  const r = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.mqttPort), '-q', '1', ...args])
  assert.equal(r.code, 0, `mosquitto_pub ${args.join(' ')}: ${r.stderr}`)
}

/**
 * Starts mosquitto_sub and resolves once its SUBACK arrived; `received` resolves its output.
 * stdbuf makes it write each line at once (a pipe would hold them until it exits).
 */
async function mosquittoSub (topic: string): Promise<{ received: Promise<string> }> {
  const proc = spawn('stdbuf', ['-oL', 'mosquitto_sub', '-h', '127.0.0.1', '-p', String(broker.mqttPort), '-t', topic, '-C', '1', '-W', '15', '-v', '-d'],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const received = new Promise<string>(resolve => proc.once('exit', () => resolve(out)))
  await new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', chunk => {
      out += String(chunk)
      if (out.includes('SUBACK')) resolve()
    })
    proc.once('exit', code => reject(new Error(`mosquitto_sub exited ${code} before subscribing: ${out}`)))
  })
  return { received }
}

test('the browser client connects over WebSocket, shows traffic, publishes, and shows devices going offline', { skip, timeout: 60_000 }, async () => {
  const { page, errors } = await openPage(`${broker.httpUrl}/`)

  // It connects by itself to ws://<page host>:<--ws-port><--ws-path>.
  await page.waitForSelector('body[data-mqtt="connected"]', { timeout: 10_000 })
  const url = await page.inputValue('#connect-form input[name="url"]')
  assert.equal(url, `ws://127.0.0.1:${new URL(broker.wsUrl).port}/mqtt`)
  const web = broker.logs.find(l => l.msg === 'client connected' && String(l.clientId ?? '').startsWith('swallow-web-'))
  assert.equal(web?.protocol, 5, 'the page speaks MQTT 5')
  await page.waitForSelector('.subscription.granted[data-filter="#"]')

  // A message from mosquitto_pub shows in the topic tree (last value) and in the log.
  await mosquittoPub('-t', 'sensors/room1/climate', '-m', '{"celsius": 21.5, "humidity": 40}')
  const node = page.locator('.node[data-topic="sensors/room1/climate"] > .node-row')
  await node.locator('.value', { hasText: '"celsius": 21.5' }).waitFor({ timeout: 5000 })
  assert.match(await node.locator('.rate').innerText(), /\/s$/, 'the topic shows a message rate')
  await page.locator('.log-entry[data-topic="sensors/room1/climate"] .log-payload', { hasText: '21.5' }).waitFor()

  // A message published from the page's form reaches mosquitto_sub.
  const sub = await mosquittoSub('web/out')
  await page.fill('#publish-form input[name="topic"]', 'web/out')
  await page.fill('#publish-form textarea[name="payload"]', 'hello from the browser')
  await page.selectOption('#publish-form select[name="qos"]', '1')
  await page.click('#publish-form button[type="submit"]')
  await page.locator('#publish-form .form-message', { hasText: 'acknowledged by the broker' }).waitFor()
  assert.match(await sub.received, /web\/out hello from the browser/)
  await page.locator('.log-entry.out[data-topic="web/out"]').waitFor()

  // Devices come from retained <prefix>/+/status topics; one goes offline.
  await mosquittoPub('-r', '-t', 'devices/d1/status', '-m', 'online')
  await mosquittoPub('-r', '-t', 'devices/d2/status', '-m', 'online')
  await page.waitForSelector('.device[data-device="d1"][data-status="online"]')
  await page.waitForSelector('.device[data-device="d2"][data-status="online"]')
  for (let i = 0; i < 6; i++) {
    await mosquittoPub('-t', 'devices/d1/telemetry', '-m', JSON.stringify({ seq: i, temperature: 20 + Math.sin(i) * 2, humidity: 45 + i }))
  }
  await mosquittoPub('-r', '-t', 'devices/d1/status', '-m', 'offline')
  await page.waitForSelector('.device[data-device="d1"][data-status="offline"]', { timeout: 5000 })
  assert.equal(await page.locator('.device[data-device="d1"] .device-status').innerText(), 'offline')
  await page.locator('#devices-summary', { hasText: '1 online' }).waitFor()

  // Clicking a device charts its telemetry and points the publish form at its commands.
  await page.click('.device[data-device="d1"] button')
  await page.locator('#chart-info', { hasText: 'temperature = ' }).waitFor()
  assert.match(await page.locator('#chart-info').innerText(), /6 points/)
  assert.equal(await page.inputValue('#publish-form input[name="topic"]'), 'devices/d1/cmd')

  // The log filters by topic filter, and pausing holds new messages back until resumed.
  await page.fill('#log-filter', 'devices/+/status')
  await page.waitForFunction(() => {
    const shown = [...document.querySelectorAll<HTMLElement>('.log-entry')].map(e => e.dataset.topic ?? '')
    return shown.length >= 3 && shown.every(topic => /^devices\/[^/]+\/status$/.test(topic))
  })
  await page.click('#log-pause')
  await mosquittoPub('-t', 'devices/d3/status', '-m', 'online')
  await page.locator('#log-status', { hasText: 'paused: 1 new message' }).waitFor()
  assert.equal(await page.locator('.log-entry[data-topic="devices/d3/status"]').count(), 0)
  await page.click('#log-pause')
  await page.locator('.log-entry[data-topic="devices/d3/status"]').waitFor()
  await page.fill('#log-filter', '')

  // A subscription to a filter outside '#' (the broker's own $SYS topics).
  await page.fill('#subscribe-form input[name="filter"]', '$SYS/broker/#')
  await page.click('#subscribe-form button[type="submit"]')
  await page.waitForSelector('.subscription.granted[data-filter="$SYS/broker/#"]')

  await screenshot(page, 'web-client.png', 1360)
  await page.setViewportSize({ width: 390, height: 844 })
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  assert.ok(overflow <= 0, `no sideways scrolling on a phone-sized screen (${overflow}px too wide)`)
  await screenshot(page, 'web-client-phone.png', 390)
  await page.setViewportSize({ width: 1360, height: 1000 })

  // Disconnect and connect again with the buttons.
  await page.click('#disconnect')
  await page.waitForSelector('body[data-mqtt="disconnected"]')
  await page.click('#connect')
  await page.waitForSelector('body[data-mqtt="connected"]')
  await page.waitForSelector('.device[data-device="d1"][data-status="offline"]')

  assert.deepEqual(errors, [], 'no errors in the page')
  await page.close()
})

test('with --ws-port 0 the page finds the WebSocket port the broker picked', { skip, timeout: 30_000 }, async () => {
  const other = await startBroker({ storage: 'memory' })
  try {
    const { page, errors } = await openPage(`${other.httpUrl}/`)
    await page.waitForSelector('body[data-mqtt="connected"]', { timeout: 10_000 })
    assert.equal(await page.inputValue('#connect-form input[name="url"]'), other.wsUrl)
    assert.deepEqual(errors, [])
    await page.close()
  } finally {
    await other.stop()
  }
})

test('with a password file the page is refused until the right username and password are entered', { skip: skip || needBinary('mosquitto_passwd', 'mosquitto'), timeout: 30_000 }, async () => {
  const dir = tempDir()
  const passwords = `${dir.path}/passwords`
  const made = await run('mosquitto_passwd', ['-c', '-b', passwords, 'alice', 'wonderland'])
  assert.equal(made.code, 0, made.stderr)
  const secured = await startBroker({ storage: 'memory', args: ['--password-file', passwords] })
  try {
    const { page, errors } = await openPage(`${secured.httpUrl}/`)
    await page.waitForSelector('body[data-mqtt="refused"]', { timeout: 10_000 })
    await page.locator('#connect-message', { hasText: 'refused the connection' }).waitFor()

    await page.fill('#connect-form input[name="username"]', 'alice')
    await page.fill('#connect-form input[name="password"]', 'not the password')
    await page.click('#connect')
    await page.waitForSelector('body[data-mqtt="refused"]')
    await page.locator('#connect-message', { hasText: 'wrong username or password' }).waitFor()

    await page.fill('#connect-form input[name="password"]', 'wonderland')
    await page.click('#connect')
    await page.waitForSelector('body[data-mqtt="connected"]', { timeout: 10_000 })
    assert.equal(await page.locator('#connect-message').innerText(), '')
    assert.deepEqual(errors, [], 'refusals are reported in the page, not thrown')
    await page.close()
  } finally {
    await secured.stop()
    dir.remove()
  }
})
