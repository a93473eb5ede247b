// The broker's own records never show in the fleet API: session markers ($swallow/session,
// $swallow/expires/..., $swallow/shared) and the shared groups' backlog pseudo clients
// ($swallow/share/...). Embedded storage, so the sessions come from LevelDB, also after a restart.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker } from '../../helpers/broker.js'
import { connect5 } from '../../helpers/mqtt.js'
import { waitFor } from '../../helpers/system.js'
import { apiOf } from './fleet-helpers.js'

const ARGS = ['--sys-interval', 'off', '--admin-token', 'adm']

test('markers and shared-group backlogs are not clients, sessions or subscriptions', async () => {
  const broker = await startBroker({ args: ARGS })
  let call = apiOf(broker.httpUrl, 'adm')
  const member = await connect5(broker.mqttUrl, { clientId: 'hidden-member', clean: false, properties: { sessionExpiryInterval: 600 } })
  await member.subscribeAsync(['$share/workers/jobs/#', 'own/topic'], { qos: 1 })
  await member.endAsync()
  // The group's only member is offline: this message waits in the group's backlog.
  assert.equal((await call('/api/publish', 'POST', { topic: 'jobs/1', payload: 'j', qos: 1 })).status, 200)
  const check = async (): Promise<void> => {
    const sessions = (await call('/api/sessions')).body.items
    assert.deepEqual(sessions.map((s: { clientId: string }) => s.clientId), ['hidden-member'])
    assert.deepEqual(sessions[0].subscriptionList.map((s: { filter: string }) => s.filter).sort(), ['$share/workers/jobs/#', 'own/topic'])
    assert.ok(sessions[0].expiresAt !== null, 'the expiry is read from its marker, the marker is not listed')
    const all = (await call('/api/clients?state=all')).body.items.map((c: { clientId: string }) => c.clientId)
    assert.deepEqual(all, ['hidden-member'])
    const filters = (await call('/api/subscriptions')).body.items.map((s: { filter: string }) => s.filter)
    assert.ok(!filters.some((f: string) => f.startsWith('$swallow/')), filters.join())
    const topics = (await call('/api/topics')).body.items.map((t: { filter: string }) => t.filter)
    assert.ok(!topics.some((f: string) => f.startsWith('$swallow/')), topics.join())
  }
  try {
    await waitFor(async () => (await call('/api/sessions')).body.total === 1, 5000, 'the offline session')
    await check()
    await broker.stop()
    const again = await startBroker({ args: ARGS, dataDir: broker.dataDir })
    call = apiOf(again.httpUrl, 'adm')
    try {
      await check()
    } finally {
      await again.stop()
    }
  } finally {
    await broker.stop()
  }
})
