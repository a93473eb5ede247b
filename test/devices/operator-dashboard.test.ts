// The operator dashboard (/dashboard) in Debian's Chromium against a broker with 300
// simulated devices (swallow simulate): it asks for the admin token, each view loads with
// its key elements (checked on the page and on a screenshot of it), and kicking a client
// from the clients table disconnects it (MQTT 5: DISCONNECT 0x98).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import type { Browser, Page } from 'playwright-core'
import type { IDisconnectPacket } from 'mqtt-packet'
import { SWALLOW_BIN, startBroker, type BrokerProcess } from '../helpers/broker.js'
import { launchBrowser, needChromium, openPage } from '../helpers/browser.js'
import { connect5, type MqttClient } from '../helpers/mqtt.js'
import { waitFor } from '../helpers/system.js'

const skip = needChromium()
const DEVICES = 300
let broker: BrokerProcess
let browser: Browser
let simulator: ChildProcess
let target: MqttClient

before(async () => {
  if (skip) return
  broker = await startBroker({ storage: 'memory', args: ['--sys-interval', 'off', '--admin-token', 'dash-token', '--bridge-rule', 'devices/+/telemetry=telemetry'] })
  simulator = spawn(process.execPath, [SWALLOW_BIN, 'simulate', '--url', broker.mqttUrl, '--devices', String(DEVICES), '--interval', '5s', '--ramp', '300/s', '--id-prefix', 'sim'], { stdio: 'ignore' })
  const answer = async (): Promise<number> => (await (await fetch(`${broker.httpUrl}/api/clients?prefix=sim-&limit=1`, { headers: { authorization: 'Bearer dash-token' } })).json() as { total: number }).total
  await waitFor(async () => await answer() === DEVICES, 30_000, `${DEVICES} simulated devices connected`)
  target = await connect5(broker.mqttUrl, { clientId: 'dash-target', reconnectPeriod: 0 })
  await target.subscribeAsync('dash/+/cmd', { qos: 1 })
  browser = await launchBrowser()
})

after(async () => {
  target?.end(true)
  simulator?.kill('SIGINT')
  await browser?.close()
  await broker?.stop()
})

/** A screenshot of the page is a real image of some size (what a person would see rendered). */
async function screenshot (page: Page): Promise<void> {
  const png = await page.screenshot({ fullPage: true })
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], 'a PNG')
  assert.ok(png.length > 10_000, `a rendered page, not a blank one (${png.length} bytes)`)
}

test('the dashboard asks for the token, then shows the overview, clients, a client, subscriptions, bans, retained and streams; kick disconnects', { skip, timeout: 120_000 }, async () => {
  const { page, errors } = await openPage(browser, `${broker.httpUrl}/dashboard`)
  await page.waitForSelector('#token-form:not([hidden])')
  await page.fill('#token-input', 'wrong')
  await page.click('#token-form button[type="submit"]')
  await page.locator('#token-message', { hasText: 'refused' }).waitFor()
  await page.fill('#token-input', 'dash-token')
  await page.click('#token-form button[type="submit"]')

  // Overview: the connections figure counts the devices, the storage and the node.
  await page.locator('[data-figure="connections"] dd', { hasText: String(DEVICES + 1) }).waitFor({ timeout: 10_000 })
  assert.equal(await page.locator('[data-figure="storage"] dd').innerText(), 'memory: ok')
  assert.equal(await page.locator('[data-figure="nodes"] dd').innerText(), '1')
  await page.locator('[data-figure="in"] dd', { hasText: '/s' }).waitFor({ timeout: 10_000 })
  await screenshot(page)

  // Clients: a page of 50 of the 301, search by prefix, kick from the table.
  await page.click('nav a[href="#/clients"]')
  await page.locator('.pager', { hasText: `page 1 of 7 (${DEVICES + 1})` }).waitFor()
  assert.equal(await page.locator('[data-testid="clients"] tbody tr').count(), 50)
  await screenshot(page)
  await page.fill('.search input', 'dash-')
  await page.click('.search button')
  await page.locator('.pager', { hasText: 'page 1 of 1 (1)' }).waitFor()
  const told = new Promise<IDisconnectPacket>(resolve => target.once('disconnect', resolve))
  await page.click('button[data-kick="dash-target"]')
  assert.equal((await told).reasonCode, 0x98)
  await page.locator('[role="status"]', { hasText: 'kicked dash-target' }).waitFor()

  // One client's page: figures and subscriptions of a simulated device.
  await page.goto(`${broker.httpUrl}/dashboard#/clients/sim-0007`)
  await page.locator('[data-testid="client-detail"] dd', { hasText: 'MQTT 3.1.1' }).waitFor()
  await page.locator('[data-testid="client-subscriptions"] td', { hasText: 'devices/sim-0007/cmd' }).waitFor()
  await screenshot(page)

  await page.click('nav a[href="#/subscriptions"]')
  await page.locator('[data-testid="subscriptions"] td', { hasText: 'devices/sim-0001/cmd' }).waitFor()

  // Bans: add one from the form, see it listed, remove it.
  await page.click('nav a[href="#/bans"]')
  await page.fill('[data-testid="ban-form"] input[aria-label="value"]', 'sim-0003')
  await page.fill('[data-testid="ban-form"] input[aria-label="reason"]', 'test')
  await page.click('[data-testid="ban-form"] button')
  await page.locator('[role="status"]', { hasText: 'banned clientId sim-0003; kicked 1' }).waitFor()
  await page.locator('[data-testid="bans"] td', { hasText: 'sim-0003' }).waitFor()
  await screenshot(page)
  await page.click('[data-testid="bans"] button')
  await page.waitForFunction(() => document.querySelector('[data-testid="bans"] tbody')?.children.length === 0)

  await page.click('nav a[href="#/retained"]')
  await page.locator('[data-testid="retained"] td', { hasText: 'devices/sim-0001/status' }).waitFor()

  // Two consumer groups of the telemetry stream: one at offset 0 (it has read nothing), one
  // at the stream's end; the view lists both with their lag.
  const auth = { authorization: 'Bearer dash-token' }
  await waitFor(async () => (await (await fetch(`${broker.httpUrl}/api/streams/telemetry`, { headers: auth })).json() as { nextOffset: number }).nextOffset > 0, 10_000, 'telemetry records')
  for (const [group, offset] of [['billing', 0], ['archive', 1]] as const) {
    const res = await fetch(`${broker.httpUrl}/api/streams/telemetry/groups/${group}`, { method: 'POST', headers: auth, body: JSON.stringify({ offset }) })
    assert.equal(res.status, 200)
  }
  await page.click('nav a[href="#/streams"]')
  await page.locator('[data-testid="streams"] td', { hasText: 'telemetry' }).waitFor()
  const rows = page.locator('[data-testid="groups"] tbody tr')
  await rows.nth(1).waitFor()
  const cells = async (i: number): Promise<string[]> => await rows.nth(i).locator('td').allInnerTexts()
  const [archive, billing] = [await cells(0), await cells(1)]
  assert.deepEqual(archive.slice(0, 3), ['telemetry', 'archive', '1'])
  assert.deepEqual(billing.slice(0, 3), ['telemetry', 'billing', '0'])
  // The same bounds for both: the group one record further back lags one record more.
  const lag = (row: string[]): number => Number(row[3].replace(/\D/g, ''))
  assert.equal(lag(billing) - lag(archive), 1, `lags ${billing[3]} and ${archive[3]}`)
  await screenshot(page)
  // The two 401s are the probe before a token was given and the wrong token; nothing else failed.
  assert.deepEqual(errors.filter(e => !e.includes('status of 401')), [])
  assert.equal(errors.length, 2)
})
