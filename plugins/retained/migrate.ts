// Upgrading a broker that kept its retained messages in the session storage (plain Aedes
// persistence): on the first start with this plugin, they are copied into the retained
// store once, then a marker in the store says it is done. The old copies stay where they
// are (harmless, and a downgrade still finds them).
import type { Readable } from 'node:stream'
import type { Logger } from '../../src/logger.js'
import type { RetainedBackend, WriteOp } from './backend.js'

const BATCH = 1000

interface LegacyPacket { topic: string, payload: Buffer | string, qos?: number }

export async function importLegacyRetained (backend: RetainedBackend, legacyStream: (filter: string) => Readable, log: Logger): Promise<void> {
  if (await backend.imported()) return
  let ops: WriteOp[] = []
  let count = 0
  const storedAt = Date.now()
  for await (const packet of legacyStream('#') as AsyncIterable<LegacyPacket>) {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
    if (payload === undefined || payload.length === 0) continue
    const qos = (packet.qos === 1 || packet.qos === 2 ? packet.qos : 0)
    ops.push({ type: 'put', topic: packet.topic, meta: { qos, storedAt, size: payload.length, seq: 0 }, payload })
    if (ops.length === BATCH) {
      await backend.write(ops)
      count += ops.length
      ops = []
    }
  }
  if (ops.length > 0) await backend.write(ops)
  count += ops.length
  await backend.markImported()
  if (count > 0) log.info({ count }, 'copied the retained messages kept in the session storage into the retained store (done once)')
}
