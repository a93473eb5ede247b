// A deny line withholds the denied topics; it does not refuse the wildcard subscriptions that
// merely overlap it (issue #14). Mosquitto 2.0 and EMQX read an ACL the same way: with
// `topic readwrite #` and `topic deny test/nosubscribe`, `#` and `+/+` are granted and only
// the denied topic is withheld, live and retained. A filter inside a deny rule is refused.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startBroker } from '../../helpers/broker.js'
import { collect, connect, run } from '../../helpers/mqtt.js'
import { needBinary, waitFor } from '../../helpers/system.js'
import { hashPassword } from '../../../plugins/auth/password-hash.js'
import { files, subscribeCodes } from './auth-helpers.js'

const READER = 'reader-1'

// Anonymous readers (the lines before the first `user`) get everything but one topic; the
// writer publishes the denied topic too, so that withholding it is a delivery decision.
const variants: Array<{ name: string, anonymous: string, denied: string }> = [
  { name: 'a topic deny line after the grant', anonymous: 'topic readwrite #\ntopic readwrite $SYS/#\ntopic deny test/nosubscribe\n', denied: 'test/nosubscribe' },
  { name: 'a topic deny line before the grant', anonymous: 'topic deny test/nosubscribe\ntopic readwrite #\ntopic readwrite $SYS/#\n', denied: 'test/nosubscribe' },
  { name: 'a pattern deny line after the grant', anonymous: 'pattern readwrite #\npattern deny test/%c\n', denied: `test/${READER}` },
  { name: 'a pattern deny line before the grant', anonymous: 'pattern deny test/%c\npattern readwrite #\n', denied: `test/${READER}` }
]

for (const { name, anonymous, denied } of variants) {
  test(`${name}: #, +/+ and test/+ are granted, the denied topic is withheld live and retained, and subscribing to it is refused`, async () => {
    // Patterns apply to every client; the writer's block is checked first for users.
    const acl = anonymous.startsWith('pattern')
      ? `${anonymous}`
      : `${anonymous}\nuser writer\ntopic write #\n`
    const f = files({ passwd: `writer:${await hashPassword('writer-pw', 1000)}\n`, acl })
    const broker = await startBroker({ storage: 'memory', args: ['--password-file', f.path('passwd'), '--acl-file', f.path('acl'), '--allow-anonymous'] })
    try {
      // A pattern deny for test/%c does not touch the writer (client id "writer").
      const writer = await connect(broker.mqttUrl, { username: 'writer', password: 'writer-pw', clientId: 'writer' })
      await writer.publishAsync(denied, 'retained secret', { qos: 1, retain: true })
      await writer.publishAsync('test/open', 'retained open', { qos: 1, retain: true })

      const reader = await connect(broker.mqttUrl, { clientId: READER })
      const got = collect(reader)
      assert.deepEqual(await subscribeCodes(reader, ['#', '+/+', 'test/+']), [1, 1, 1])
      assert.deepEqual(await subscribeCodes(reader, [denied]), [128], 'a filter inside the deny rule is refused')
      await writer.publishAsync(denied, 'live secret', { qos: 1 })
      await writer.publishAsync('test/open', 'live open', { qos: 1 })
      await writer.publishAsync('sentinel', 'last', { qos: 1 })
      await waitFor(() => got.some(m => m.topic === 'sentinel'), 5000, 'the sentinel')
      assert.ok(!got.some(m => m.topic === denied), `nothing on ${denied} was delivered: ${JSON.stringify(got)}`)
      // One delivery per message: the three overlapping subscriptions share it.
      assert.deepEqual(got.map(m => m.payload), ['retained open', 'live open', 'last'])
      await reader.endAsync()
      await writer.endAsync()
    } finally {
      await broker.stop()
    }
  })
}

test('mosquitto_sub -t "#" -t "+/+" under a deny line is granted and receives', { skip: needBinary('mosquitto_sub', 'mosquitto-clients') }, async () => {
  const f = files({ acl: 'topic readwrite #\ntopic readwrite $SYS/#\ntopic deny test/nosubscribe\n' })
  const broker = await startBroker({ storage: 'memory', args: ['--acl-file', f.path('acl'), '--allow-anonymous'] })
  try {
    const pub = await connect(broker.mqttUrl)
    await pub.publishAsync('TopicA/B', 'hello', { qos: 1, retain: true })
    const sub = await run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(broker.mqttPort), '-t', '#', '-t', '+/+', '-v', '-C', '1', '-W', '5'])
    assert.equal(sub.code, 0, sub.stderr)
    assert.equal(sub.stdout.trim(), 'TopicA/B hello')
    await pub.endAsync()
  } finally {
    await broker.stop()
  }
})
