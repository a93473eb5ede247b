// GET /api/streams/:s/follow: records as Server-Sent Events, live. Each event's id is the
// record offset, so an EventSource that reconnects resumes after the last one it saw
// (Last-Event-ID). A comment line every 15 s keeps proxies from closing an idle stream.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { recordToJson } from './format.js'
import type { StreamStore } from './store.js'

const KEEPALIVE_MS = 15_000

export async function serveFollow (req: IncomingMessage, res: ServerResponse, store: StreamStore, from: number): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
  res.write(': following ' + store.name + ' from ' + from + '\n\n')
  let open = true
  req.on('close', () => { open = false })
  const cursor = store.cursor(from)
  let lastWrite = Date.now()
  try {
    while (open) {
      const batch = await cursor.read(500)
      if (batch.length === 0) {
        await store.waitForAppend(KEEPALIVE_MS)
        if (open && Date.now() - lastWrite >= KEEPALIVE_MS) {
          res.write(': keepalive\n\n')
          lastWrite = Date.now()
        }
        continue
      }
      lastWrite = Date.now()
      let text = ''
      for (const r of batch) text += `id: ${r.offset}\nevent: record\ndata: ${JSON.stringify(recordToJson(r))}\n\n`
      if (!res.write(text)) await drained(res)
    }
  } finally {
    await cursor.close()
    res.end()
  }
}

/** Resolves when the response can take more, or when the client went away. */
export function drained (res: ServerResponse): Promise<void> {
  return new Promise(resolve => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.once('drain', done)
    res.once('close', done)
  })
}
