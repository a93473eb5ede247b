// A denied PUBLISH is not mirrored by the log bridge (auth runs first in the hook order),
// whatever its QoS, while allowed ones are.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pluginOptions } from '../../../src/builtins.js'
import { startBroker } from '../../helpers/broker.js'
import { connect } from '../../helpers/mqtt.js'
import { waitFor } from '../../helpers/system.js'
import { hashPassword } from '../../../plugins/auth/password-hash.js'
import { files } from './auth-helpers.js'

const skip = pluginOptions.some(o => o.key === 'bridge.rules') ? false : 'the log bridge plugin is not registered'

test('denied messages are not mirrored into a bridge stream; allowed ones are', { skip }, async () => {
  const lines = await Promise.all(['alice', 'bob'].map(async u => `${u}:${await hashPassword(u + '-pw', 1000)}`))
  const f = files({ passwd: lines.join('\n') + '\n', acl: 'user alice\ntopic readwrite alice/#\n\nuser bob\ntopic readwrite bob/#\n' })
  const broker = await startBroker({ args: ['--password-file', f.path('passwd'), '--acl-file', f.path('acl'), '--bridge-rule', '#=all'] })
  try {
    const bob = await connect(broker.mqttUrl, { username: 'bob', password: 'bob-pw' })
    for (const qos of [0, 1, 2] as const) await bob.publishAsync('alice/x', `denied q${qos}`, { qos })
    await bob.publishAsync('bob/x', 'allowed', { qos: 1 })
    bob.end(true)
    const text = await waitFor(async () => {
      const body = await (await fetch(`${broker.httpUrl}/api/streams/all/records?from=earliest`)).text()
      return body.includes('allowed') ? body : null
    }, 5000, 'the allowed record')
    assert.ok(!text.includes('denied'), text)
    assert.ok(!text.includes('alice/x'), text)
  } finally {
    await broker.stop()
  }
})
