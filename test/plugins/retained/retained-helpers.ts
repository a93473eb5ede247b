// Shared by the retained store's tests.
import { collect, connect, type Received } from '../../helpers/mqtt.js'
import { sleep } from '../../helpers/system.js'

/**
 * Subscribes and returns the retained messages that arrived within `waitMs`, or, with
 * `untilQuiet`, once the flow has been quiet for `waitMs` (at least twice `waitMs`: tests
 * with a deadline pass false).
 */
export async function retainedFor (url: string, filters: string | string[], waitMs = 300, untilQuiet = true): Promise<Received[]> {
  const sub = await connect(url)
  const got = collect(sub)
  await sub.subscribeAsync(filters, { qos: 1 })
  let seen = -1
  while (seen !== got.length) {
    if (!untilQuiet && seen !== -1) break
    seen = got.length
    await sleep(waitMs)
  }
  await sub.endAsync()
  return got
}
