// The embedded storage's index of client ids with stored state (src/session-index.ts):
// read from the LevelDB keys at start, kept up to date by writes, and never skipping an
// operation that would have found something.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ClassicLevel } from 'classic-level'
import LevelPersistence from 'aedes-persistence-level/asyncPersistence.js'
import { SessionIndex } from '../../src/session-index.js'
import type { AnyOperation } from '../../src/storage-operations.js'
import { startBroker } from '../helpers/broker.js'
import { connect, connectCollecting, sentinel } from '../helpers/mqtt.js'
import { tempDir } from '../helpers/system.js'

type Ops = Record<string, AnyOperation>

async function openPersistence (path: string): Promise<{ db: ClassicLevel<string, Buffer>, ops: Ops }> {
  const db = new ClassicLevel<string, Buffer>(path, { valueEncoding: 'buffer' })
  await db.open()
  const persistence = new LevelPersistence(db) as unknown as Ops
  await persistence.setup({ id: 'broker-1' })
  const ops: Ops = {}
  for (const op of ['addSubscriptions', 'subscriptionsByClient', 'cleanSubscriptions', 'putWill', 'delWill', 'getWill', 'cleanIncoming', 'incomingStorePacket', 'incomingGetPacket']) {
    ops[op] = persistence[op].bind(persistence)
  }
  return { db, ops }
}

test('the index is read from the stored keys and follows writes; unknown ids skip the database', async () => {
  const dir = tempDir()
  try {
    let { db, ops } = await openPersistence(dir.path)
    await ops.addSubscriptions({ id: 'plant/dev:1' }, [{ topic: 'a/b', qos: 1 }])
    await ops.putWill({ id: 'will-ü' }, { cmd: 'publish', topic: 'gone', payload: Buffer.from('x'), qos: 0, retain: false })
    await ops.incomingStorePacket({ id: 'q2' }, { cmd: 'publish', topic: 't', payload: Buffer.from('y'), qos: 2, messageId: 3, retain: false })
    await db.close();
    ({ db, ops } = await openPersistence(dir.path))

    const index = await SessionIndex.load(db)
    assert.deepEqual(index.size, { sessions: 2, wills: 1 })
    index.wrap(ops)
    assert.deepEqual((await ops.subscriptionsByClient({ id: 'plant/dev:1' })).map((s: { topic: string }) => s.topic), ['a/b'])
    assert.deepEqual(await ops.subscriptionsByClient({ id: 'never-seen' }), [])
    assert.equal((await ops.incomingGetPacket({ id: 'q2' }, { messageId: 3 })).payload.toString(), 'y')

    // a will is found once, then forgotten
    assert.equal((await ops.getWill({ id: 'will-ü' })).topic, 'gone')
    assert.equal((await ops.delWill({ id: 'will-ü' })).topic, 'gone')
    assert.equal(await ops.delWill({ id: 'will-ü' }), undefined)
    assert.equal(index.size.wills, 0)

    // new state is indexed before it is written; a clean start really clears it
    await ops.addSubscriptions({ id: 'new' }, [{ topic: 'c/#', qos: 0 }])
    assert.equal((await ops.subscriptionsByClient({ id: 'new' })).length, 1)
    await ops.cleanSubscriptions({ id: 'plant/dev:1' })
    assert.deepEqual(await ops.subscriptionsByClient({ id: 'plant/dev:1' }), [])
    await ops.cleanIncoming({ id: 'q2' })
    await assert.rejects(ops.incomingGetPacket({ id: 'q2' }, { messageId: 3 }))
    await db.close()
  } finally {
    dir.remove()
  }
})

test('a persistent session from before a restart is cleared by a clean CONNECT after it', async () => {
  const dir = tempDir()
  let broker = await startBroker({ dataDir: dir.path })
  try {
    const device = await connect(broker.mqttUrl, { clientId: 'roamer', clean: false })
    await device.subscribeAsync('fleet/#', { qos: 1 })
    await device.endAsync()
    const pub = await connect(broker.mqttUrl)
    await pub.publishAsync('fleet/a', 'queued', { qos: 1 })
    await pub.endAsync()
    await broker.crash()
    broker = await startBroker({ dataDir: dir.path })

    // Queued messages come right after the CONNACK; a live sentinel after a SUBSCRIBE comes later.
    const clean = await connectCollecting(broker.mqttUrl, { clientId: 'roamer', clean: true })
    await clean.client.subscribeAsync('sentinel/roamer', { qos: 1 })
    await sentinel(clean.client, clean.got, 'sentinel/roamer')
    assert.deepEqual(clean.got, [], 'a clean session gets nothing of the old one')
    await clean.client.endAsync()
    const again = await connectCollecting(broker.mqttUrl, { clientId: 'roamer', clean: false })
    await again.client.subscribeAsync('sentinel/roamer', { qos: 1 })
    await sentinel(again.client, again.got, 'sentinel/roamer')
    assert.equal(again.client.connected, true)
    assert.deepEqual(again.got, [], 'the clean CONNECT removed the stored session (subscription and queue)')
    const pub2 = await connect(broker.mqttUrl)
    await pub2.publishAsync('fleet/a', 'after', { qos: 1 })
    await sentinel(pub2, again.got, 'sentinel/roamer')
    assert.deepEqual(again.got, [], 'no subscription survived')
    await pub2.endAsync()
    await again.client.endAsync()
  } finally {
    await broker.stop()
    dir.remove()
  }
})
