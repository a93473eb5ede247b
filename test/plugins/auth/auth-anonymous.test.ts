// Anonymous rules and how the auth settings are given: with nothing configured every client
// may connect; an ACL without an identity source never trusts a claimed username; the
// settings also come from SWALLOW_* variables and the config file's "auth" section.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { startBroker } from '../../helpers/broker.js'
import { connect } from '../../helpers/mqtt.js'
import { waitFor } from '../../helpers/system.js'
import { hashPassword } from '../../../plugins/auth/password-hash.js'
import { connack, files, subscribeCodes } from './auth-helpers.js'

test('with no identity source and no ACL, every client connects and the startup says so', async () => {
  const broker = await startBroker({ storage: 'memory' })
  try {
    assert.equal(await connack(broker.mqttPort, {}), 0)
    assert.equal(await connack(broker.mqttPort, { username: 'anyone', password: 'anything' }), 0)
    assert.ok(broker.logs.some(l => String(l.msg).startsWith('no password file, JWT key')))
    await waitFor(() => broker.logs.some(l => String(l.msg).includes('loopback only')), 5000, 'loopback notice')
  } finally {
    await broker.stop()
  }
})

test('an ACL without an identity source gives every client the anonymous rules, whatever username it claims', async () => {
  const f = files({ acl: 'topic read public/#\n\nuser alice\ntopic readwrite #\n' })
  const broker = await startBroker({ storage: 'memory', args: ['--acl-file', f.path('acl')] })
  try {
    const claimed = await connect(broker.mqttUrl, { username: 'alice', password: 'not checked' })
    assert.deepEqual(await subscribeCodes(claimed, ['public/#', 'private/#']), [1, 128])
    claimed.end(true)
    assert.ok(broker.logs.some(l => l.level === 40 && String(l.msg).startsWith('ACL file without an identity source')))
  } finally {
    await broker.stop()
  }
})

test('auth settings from SWALLOW_* environment variables and from the config file', async () => {
  const f = files({ passwd: `alice:${await hashPassword('alice-pw', 1000)}\n` })
  const fromEnv = await startBroker({ storage: 'memory', env: { SWALLOW_PASSWORD_FILE: f.path('passwd'), SWALLOW_ALLOW_ANONYMOUS: 'false' } })
  try {
    assert.equal(await connack(fromEnv.mqttPort, { username: 'alice', password: 'alice-pw' }), 0)
    assert.equal(await connack(fromEnv.mqttPort, {}), 5)
  } finally {
    await fromEnv.stop()
  }
  writeFileSync(f.path('swallow.json'), JSON.stringify({ auth: { passwordFile: f.path('passwd'), allowAnonymous: true } }))
  const fromFile = await startBroker({ storage: 'memory', args: ['--config', f.path('swallow.json')] })
  try {
    assert.equal(await connack(fromFile.mqttPort, { username: 'alice', password: 'wrong' }), 4)
    assert.equal(await connack(fromFile.mqttPort, {}), 0)
  } finally {
    await fromFile.stop()
  }
})
