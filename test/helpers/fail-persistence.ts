// Loaded into a broker process with `node --import` (test/faults/failing-persistence.test.ts):
// makes one persistence call fail, to prove that a storage error inside a packet handler
// fails that one client's operation, never the process (issue #20).
//
// FAIL_PERSISTENCE=<method>@<clientId>[:<n>] makes the n-th call (default 1) of <method>
// that concerns <clientId> reject (or, for the stream methods, throw on the first read).
// "Concerns": the first argument is the client ({ id }), a subscription ({ clientId }) or a
// list of subscriptions holding one of the client's. Only test code loads this file.
import MemoryPersistence from 'aedes-persistence/asyncPersistence.js'
import LevelPersistence from 'aedes-persistence-level/asyncPersistence.js'
import RedisPersistence from 'aedes-persistence-redis/asyncPersistence.js'

export const FAILURE_MESSAGE = 'injected persistence failure (test/helpers/fail-persistence.ts)'

/** The methods that return an async iterable rather than a promise. */
const STREAM_METHODS = new Set(['outgoingStream', 'createRetainedStream', 'createRetainedStreamCombi', 'streamWill', 'getClientList'])

function concerns (arg: unknown, clientId: string): boolean {
  if (Array.isArray(arg)) return arg.some(a => concerns(a, clientId))
  if (typeof arg !== 'object' || arg === null) return false
  const { id, clientId: subClient } = arg as { id?: unknown, clientId?: unknown }
  return id === clientId || subClient === clientId
}

async function * failingStream (): AsyncGenerator<never> {
  throw new Error(FAILURE_MESSAGE)
}

function install (spec: string): void {
  const match = /^(\w+)@([^:]+)(?::(\d+))?$/.exec(spec)
  if (match === null) throw new Error(`FAIL_PERSISTENCE=${spec}: expected <method>@<clientId>[:<n>]`)
  const [, method, clientId, nth] = match
  const failAt = Number(nth ?? 1)
  let calls = 0
  for (const cls of [MemoryPersistence, LevelPersistence, RedisPersistence]) {
    const proto = cls.prototype as unknown as Record<string, (...args: unknown[]) => unknown>
    const original = proto[method]
    if (typeof original !== 'function') throw new Error(`FAIL_PERSISTENCE: no persistence method ${method}`)
    proto[method] = function (this: unknown, ...args: unknown[]) {
      if (concerns(args[0], clientId) && ++calls === failAt) {
        return STREAM_METHODS.has(method) ? failingStream() : Promise.reject(new Error(FAILURE_MESSAGE))
      }
      return original.apply(this, args)
    }
  }
}

if (process.env.FAIL_PERSISTENCE !== undefined) install(process.env.FAIL_PERSISTENCE)
