// Finding the next good record after damage inside a segment. Every frame carries its own
// offset and a CRC of its body, so after unreadable bytes a reader looks for the first
// position where a whole frame checks out and its offset lies after the last good record
// (and before the next segment's base): the records from there on are readable again, and
// the offsets in between are the ones lost. A false match needs a CRC32 collision on a
// frame whose length, version and offset already fit, which random bytes do not make.
import type { FileHandle } from 'node:fs/promises'
import { checkFrame, FRAME_HEADER, MAX_BODY, BODY_HEADER } from './record.js'

const CHUNK = 1024 * 1024

export interface Resynced {
  /** File position where the next good frame starts. */
  position: number
  /** Its offset. */
  offset: number
}

/**
 * The first good frame at or after `from` (and before `fileSize`) whose offset is in
 * (`after`, `limit`), or null when the rest of the file holds none.
 */
export async function findNextFrame (fh: FileHandle, from: number, fileSize: number, after: number, limit: number): Promise<Resynced | null> {
  const buf = Buffer.allocUnsafe(CHUNK)
  for (let start = from; start + FRAME_HEADER + BODY_HEADER <= fileSize; start += CHUNK - FRAME_HEADER - BODY_HEADER) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, fileSize - start), start)
    for (let at = 0; at + FRAME_HEADER + BODY_HEADER <= bytesRead; at++) {
      if (!plausible(buf, at, start + at, fileSize, after, limit)) continue
      const frame = await frameAt(fh, buf, at, bytesRead, start + at)
      const check = checkFrame(frame.buf, frame.at)
      if (check.ok) return { position: start + at, offset: check.offset }
    }
    if (bytesRead < CHUNK) break
  }
  return null
}

/** Length, version and offset fit: worth computing the CRC. */
function plausible (buf: Buffer, at: number, position: number, fileSize: number, after: number, limit: number): boolean {
  const bodyLen = buf.readUInt32BE(at)
  if (bodyLen < BODY_HEADER || bodyLen > MAX_BODY || position + FRAME_HEADER + bodyLen > fileSize) return false
  const version = buf[at + FRAME_HEADER]
  if (version !== 1 && version !== 2) return false
  const offset = buf.readUInt32BE(at + FRAME_HEADER + 4) * 0x100000000 + buf.readUInt32BE(at + FRAME_HEADER + 8)
  return offset > after && offset < limit
}

/** The whole frame at `position`: from the chunk when it fits, else read on its own. */
async function frameAt (fh: FileHandle, buf: Buffer, at: number, bytesRead: number, position: number): Promise<{ buf: Buffer, at: number }> {
  const size = FRAME_HEADER + buf.readUInt32BE(at)
  if (at + size <= bytesRead) return { buf, at }
  const own = Buffer.allocUnsafe(size)
  await fh.read(own, 0, size, position)
  return { buf: own, at: 0 }
}
