// The browser page as an operator's dashboard: a retained device state shows when it was
// stored, a device's last sign of life and a stale badge, grey panels while disconnected, a
// refused subscription said in words, and the broker's figures at the top. Real Swallow
// (password file and ACL), chromium, MQTT.js on the devices' side.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import type { Browser } from 'playwright-core'
import { startBroker, type BrokerProcess } from '../helpers/broker.js'
import { launchBrowser, needChromium, openPage } from '../helpers/browser.js'
import { connect, type MqttClient } from '../helpers/mqtt.js'
import { freePort, needBinary, run, tempDir } from '../helpers/system.js'

const skip = needChromium() || needBinary('mosquitto_passwd', 'mosquitto')
const dir = tempDir()
let broker: BrokerProcess
let browser: Browser
let device: MqttClient

// viewer may read the devices' topics only: the page's default '#' is refused.
const ACL = 'user viewer\ntopic read devices/#\n\nuser d1\ntopic readwrite devices/d1/#\n'

before(async () => {
  if (skip) return
  for (const [user, pw, create] of [['viewer', 'look', true], ['d1', 'dev', false]] as const) {
    const made = await run('mosquitto_passwd', [...(create ? ['-c'] : []), '-b', `${dir.path}/passwords`, user, pw])
    assert.equal(made.code, 0, made.stderr)
  }
  writeFileSync(`${dir.path}/acl`, ACL)
  broker = await startBroker({ storage: 'memory', args: ['--password-file', `${dir.path}/passwords`, '--acl-file', `${dir.path}/acl`, '--sys-interval', '1s'] })
  browser = await launchBrowser()
  device = await connect(broker.mqttUrl, { username: 'd1', password: 'dev' })
})

after(async () => {
  await device?.endAsync()
  await browser?.close()
  await broker?.stop()
  dir.remove()
})

test('the dashboard: stored time of a retained state, last seen, stale badge, grey while disconnected, refusals in words, broker figures', { skip, timeout: 60_000 }, async () => {
  await device.publishAsync('devices/d1/status', 'online', { qos: 1, retain: true })
  const stored = await (await fetch(`${broker.httpUrl}/api/retained?filter=${encodeURIComponent('devices/+/status')}`)).json() as { items: Array<{ storedAt: string }> }
  const storedAt = Date.parse(stored.items[0].storedAt)

  const { page, errors } = await openPage(browser, `${broker.httpUrl}/`)
  await page.waitForSelector('body[data-mqtt="refused"]', { timeout: 10_000 })
  await page.fill('#connect-form input[name="username"]', 'viewer')
  await page.fill('#connect-form input[name="password"]', 'look')
  await page.click('#connect')
  await page.waitForSelector('body[data-mqtt="connected"]', { timeout: 10_000 })

  // '#' is refused by the ACL: said in words; the device list subscribes its own filter.
  await page.waitForSelector('.subscription.refused[data-filter="#"]')
  const refusal = await page.locator('#subscribe-message').innerText()
  assert.match(refusal, /Subscribing # was refused: not authorized: the broker's ACL does not let this user read all of it\. Subscribe to the topics this user may read instead/)
  await page.fill('#subscribe-form input[name="filter"]', 'devices/#')
  await page.click('#subscribe-form button[type="submit"]')
  await page.waitForSelector('.subscription.granted[data-filter="devices/#"]')

  // The retained state shows when the broker stored it, not when the page got it.
  const row = page.locator('.device[data-device="d1"][data-status="online"]')
  await row.waitFor()
  await page.waitForSelector(`.device[data-device="d1"][data-since="${storedAt}"]`)
  assert.match(await row.locator('.device-since').innerText(), /^since \d\d:\d\d:\d\d$/)

  // Telemetry is a sign of life; silent for three of its usual intervals, the device is stale.
  for (let i = 0; i < 4; i++) {
    await device.publishAsync('devices/d1/telemetry', JSON.stringify({ seq: i }), { qos: 1 })
    await page.waitForFunction(n => document.querySelectorAll('.log-entry[data-topic="devices/d1/telemetry"]').length >= n, i + 1)
    await new Promise(resolve => setTimeout(resolve, 150)) // the device's cadence
  }
  await row.locator('.device-seen', { hasText: 'seen' }).waitFor()
  await page.waitForSelector('.device[data-device="d1"][data-stale]', { timeout: 10_000 })
  assert.match(await row.locator('.device-seen').innerText(), /^stale: seen /)
  await page.locator('#devices-summary', { hasText: '1 online (1 stale)' }).waitFor()
  await device.publishAsync('devices/d1/telemetry', JSON.stringify({ seq: 4 }), { qos: 1 })
  await page.waitForSelector('.device[data-device="d1"]:not([data-stale])')

  // The broker's figures at the top, from /healthz and /metrics.
  const figure = (name: string): Promise<string> => page.locator(`#overview [data-figure="${name}"]`).innerText()
  await page.waitForFunction(() => /\/s$/.test(document.querySelector('#overview [data-figure="in"]')?.textContent ?? ''))
  assert.match(await figure('clients'), /^[1-9]\d*$/)
  assert.match(await figure('in'), /^\d+\/s$/)
  assert.match(await figure('out'), /^\d+\/s$/)
  assert.match(await figure('retained'), /^[1-9]\d*$/)
  assert.equal(await figure('storage'), 'memory ok')
  assert.match(await figure('uptime'), /^\d+ (s|min)$/)

  // Disconnected, the data stays but is greyed: it is no longer live.
  await page.click('#disconnect')
  await page.waitForSelector('body[data-mqtt="disconnected"]')
  assert.match(await page.locator('#devices-panel').evaluate(el => getComputedStyle(el).filter), /grayscale\(1\)/)
  assert.equal(await row.count(), 1, 'the rows stay')

  // MQTT 3.1.1 gives no reason for a refused filter: the page says so.
  await page.selectOption('#connect-form select[name="protocol"]', '4')
  await page.click('#connect')
  await page.waitForSelector('body[data-mqtt="connected"]')
  assert.equal(await page.locator('#devices-panel').evaluate(el => getComputedStyle(el).filter), 'none')
  await page.locator('#subscribe-message', { hasText: 'MQTT 3.1.1 gives no reason' }).waitFor()

  assert.deepEqual(errors, [], 'no errors in the page')
  await page.close()
})

test('a device-status filter the ACL refuses is said in the device list', { skip, timeout: 30_000 }, async () => {
  const { page, errors } = await openPage(browser, `${broker.httpUrl}/`)
  await page.fill('#connect-form input[name="username"]', 'd1')
  await page.fill('#connect-form input[name="password"]', 'dev')
  await page.click('#connect')
  await page.waitForSelector('body[data-mqtt="connected"]', { timeout: 10_000 })
  await page.locator('#devices-summary.error', { hasText: 'The broker refused devices/+/status, which the device list needs: not authorized' }).waitFor()
  assert.deepEqual(errors, [])
  await page.close()
})

test('a page whose origin --ws-origins does not list says so instead of failing like an unreachable broker; a listed one connects', { skip, timeout: 30_000 }, async () => {
  const refusing = await startBroker({ storage: 'memory', args: ['--ws-origins', 'http://app.example.com'] })
  try {
    const { page, errors } = await openPage(browser, `${refusing.httpUrl}/`)
    const origin = new URL(refusing.httpUrl).origin
    await page.locator('#connect-message.error', { hasText: `This page's origin ${origin} is not in the broker's --ws-origins` }).waitFor()
    assert.notEqual(await page.evaluate(() => document.body.dataset.mqtt), 'connected')
    assert.deepEqual(errors, [])
    await page.close()
  } finally {
    await refusing.stop()
  }
  const port = await freePort()
  const listing = await startBroker({ storage: 'memory', args: ['--http-port', String(port), '--ws-origins', `http://app.example.com,http://127.0.0.1:${port}`] })
  try {
    const { page, errors } = await openPage(browser, `http://127.0.0.1:${port}/`)
    await page.waitForSelector('body[data-mqtt="connected"]', { timeout: 10_000 })
    assert.deepEqual(errors, [])
    await page.close()
  } finally {
    await listing.stop()
  }
})
