// A cluster for a test file: one redis-server of its own and two Swallow nodes on it.
import { after, before } from 'node:test'
import { startBroker, type BrokerProcess } from './broker.js'
import { startRedis, type RedisProcess } from './redis.js'

export interface TwoNodes { redis: RedisProcess, a: BrokerProcess, b: BrokerProcess }

/**
 * Starts Redis (with `redisArgs`) and nodes a and b before the file's tests and stops them
 * after; the returned object is filled in once `before` ran. `skip`: Redis is missing.
 */
export function twoNodesForFile (skip: string | false, redisArgs: string[] = []): TwoNodes {
  const nodes = {} as TwoNodes
  before(async () => {
    if (skip) return
    nodes.redis = await startRedis(redisArgs)
    nodes.a = await startBroker({ storage: 'redis', redisUrl: nodes.redis.url })
    nodes.b = await startBroker({ storage: 'redis', redisUrl: nodes.redis.url })
  })
  after(async () => {
    if (skip) return
    await Promise.all([nodes.a.stop(), nodes.b.stop()])
    await nodes.redis.stop()
  })
  return nodes
}
