// Segment files: <dir>/<base offset, 20 digits>.log holds framed records whose first
// offset is the base; <base>.idx is its sparse index. This module names, lists and scans them.
import { readdir, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { checkFrame, FRAME_HEADER, MAX_BODY } from './record.js'
import { findNextFrame } from './resync.js'

const CHUNK = 1024 * 1024

export function segmentPath (dir: string, base: number, ext: 'log' | 'idx'): string {
  return join(dir, `${String(base).padStart(20, '0')}.${ext}`)
}

/** Base offsets of the segments in `dir`, ascending ([] when the directory is missing). */
export async function listSegments (dir: string): Promise<number[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const bases: number[] = []
  for (const name of names) {
    const m = /^(\d{20})\.log$/.exec(name)
    if (m) bases.push(Number(m[1]))
  }
  return bases.sort((a, b) => a - b)
}

/** Unreadable bytes inside a segment, and the records lost with them. */
export interface DamagedRange {
  /** Position of the first unreadable byte, and the position after the last one. */
  from: number
  to: number
  /** Offsets lost: firstOffset up to endOffset (exclusive). */
  firstOffset: number
  endOffset: number
}

export interface ScanResult {
  /** File position after the last good record. */
  end: number
  /** Offset the next record would have. */
  next: number
  /** Largest record time seen (0 when none). */
  maxTime: number
  /** Bytes after `end` that are not a good record (torn or corrupt tail). */
  badBytes: number
  /** With `resyncBelow`: damage followed by good records, in file order. */
  damage: DamagedRange[]
}

/** Return false to stop the scan before this record. */
export type OnRecord = (offset: number, position: number, time: number, size: number) => boolean | void

/**
 * Walks the records from `position` (where the record `offset` starts) to the end of the
 * file, checking length, CRC and offset continuity. Without `resyncBelow` it stops at the
 * first bad record; with it, it skips damage to the next good record whose offset is below
 * `resyncBelow` (resync.ts), and stops only at a bad tail.
 */
export async function scanSegment (fh: FileHandle, position: number, offset: number, onRecord?: OnRecord, resyncBelow?: number): Promise<ScanResult> {
  const fileSize = (await fh.stat()).size
  const damage: DamagedRange[] = []
  let pos = position
  let next = offset
  let maxTime = 0
  let buf = Buffer.allocUnsafe(CHUNK)
  let bad = false
  let stopped = false
  while (pos < fileSize && !stopped) {
    const want = Math.min(buf.length, fileSize - pos)
    const { bytesRead } = await fh.read(buf, 0, want, pos)
    let at = 0
    while (at < bytesRead) {
      const check = checkFrame(buf, at, bytesRead)
      if (!check.ok) {
        const needed = bytesRead - at >= FRAME_HEADER ? FRAME_HEADER + buf.readUInt32BE(at) : FRAME_HEADER
        // Incomplete in this chunk but present in the file: read on from here.
        if (check.reason === 'incomplete' && needed <= MAX_BODY + FRAME_HEADER && pos + at + needed <= fileSize) {
          if (at === 0) buf = Buffer.allocUnsafe(Math.max(needed, buf.length * 2))
        } else {
          bad = true
        }
        break
      }
      if (check.offset !== next) { bad = true; break }
      if (onRecord?.(check.offset, pos + at, check.time, check.size) === false) { stopped = true; break }
      if (check.time > maxTime) maxTime = check.time
      next++
      at += check.size
    }
    pos += at
    if (bad) {
      const found = resyncBelow === undefined ? null : await findNextFrame(fh, pos + 1, fileSize, next - 1, resyncBelow)
      if (found === null) break
      damage.push({ from: pos, to: found.position, firstOffset: next, endOffset: found.offset })
      pos = found.position
      next = found.offset
      bad = false
    } else if (bytesRead === 0) {
      break
    }
  }
  return { end: pos, next, maxTime, badBytes: stopped ? 0 : fileSize - pos, damage }
}
