// The hook outcomes delayed publish needs (src/hooks.ts): deferPublish (acknowledged, not
// routed; later hooks skipped), continuePublish (those later hooks, run afterwards),
// dropPublish with an MQTT 5 reason code, and a $delayed/ message no handler takes (0x83).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { PublishPacket } from 'aedes'
import { createSwallow, type Swallow } from '../src/broker.js'
import { loadConfig } from '../src/config.js'
import type { AuthorizePublishHandler, Hooks } from '../src/hooks.js'
import { createLogger } from '../src/logger.js'
import type { Plugin } from '../src/plugin.js'
import { collect, connect, connect5, sentinel } from './helpers/mqtt.js'
import { tempDir } from './helpers/system.js'

const deferred: PublishPacket[] = []
const seenLater: string[] = []
let hooksOf: Hooks
let deferrer: AuthorizePublishHandler

const deferring: Plugin = {
  name: 'deferring',
  async setup ({ hooks }) {
    hooksOf = hooks
    deferrer = (_client, packet, done) => {
      if (packet.topic.startsWith('later/')) {
        deferred.push(packet)
        hooks.deferPublish(packet)
      }
      if (packet.topic.startsWith('quota/')) hooks.dropPublish(packet, 0x97)
      done(null)
    }
    hooks.add('authorizePublish', deferrer)
  }
}
const later: Plugin = {
  name: 'later',
  async setup ({ hooks }) {
    hooks.add('authorizePublish', (_client, packet, done) => {
      seenLater.push(packet.topic)
      done(null)
    })
  }
}

let swallow: Swallow
let url: string
const dir = tempDir()
before(async () => {
  const config = loadConfig({ argv: ['--mqtt-port', '0', '--ws-port', 'off', '--http-port', 'off', '--storage', 'memory', '--data-dir', dir.path], env: {} })
  swallow = await createSwallow(config, [deferring, later], createLogger({ logLevel: 'silent', logFormat: 'json' }))
  url = swallow.listeners[0].url
})
after(async () => {
  await swallow.close()
  dir.remove()
})

test('hooks.deferPublish: acknowledged with success, not routed, later hooks skipped; continuePublish runs those later hooks', async () => {
  const sub = await connect(url)
  const got = collect(sub)
  await sub.subscribeAsync(['later/#', 'now/#'], { qos: 1 })
  const pub = await connect5(url)
  await pub.publishAsync('later/x', 'held', { qos: 1 })
  await sentinel(pub, got, 'now/sentinel')
  assert.deepEqual(got.map(m => m.payload), [])
  assert.equal(deferred.length, 1)
  assert.ok(!seenLater.includes('later/x'))
  const outcome = await new Promise<Error | null | undefined>(resolve => hooksOf.continuePublish(deferrer, null, deferred[0], resolve))
  assert.equal(outcome, null)
  assert.ok(seenLater.includes('later/x'), 'the hook after the deferring one ran')
  assert.throws(() => hooksOf.continuePublish(() => {}, null, deferred[0], () => {}), /never added/)
  await Promise.all([sub.endAsync(), pub.endAsync()])
})

test('hooks.dropPublish(packet, 0x97): MQTT 5 gets that reason code; a $delayed/ message no plugin takes is refused with 0x83', async () => {
  const pub = await connect5(url)
  await assert.rejects(pub.publishAsync('quota/x', 'x', { qos: 1 }), (err: { code?: number }) => err.code === 0x97)
  await assert.rejects(pub.publishAsync('$delayed/1/t', 'x', { qos: 1 }), (err: { code?: number }) => err.code === 0x83)
  assert.ok(seenLater.includes('t'), 'the hooks saw the inner topic')
  await pub.endAsync()
})
