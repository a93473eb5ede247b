// The files Swallow keeps beside LevelDB's own in an embedded store's directory (LevelDB
// and its repair ignore names they do not know), and what Swallow reads in LevelDB's LOG.
import { existsSync, readdirSync } from 'node:fs'
import { open, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'

/** Records of a store by kind ("queued messages": 3000), for reports across a repair. */
export type Counts = Record<string, number>

const MARKERS = {
  /** Written after a clean close: the sentinel's token and the counts. */
  stop: 'SWALLOW-CLEAN-STOP',
  /** Damage found at start whose evidence LevelDB consumed; removed by swallow repair only. */
  damaged: 'SWALLOW-DAMAGED',
  /** Written by swallow repair; the next start logs what was restored and removes it. */
  repaired: 'SWALLOW-REPAIRED'
} as const

export type MarkerKind = keyof typeof MARKERS

export async function readMarker<T> (dir: string, kind: MarkerKind): Promise<T | null> {
  try {
    return JSON.parse(await readFile(join(dir, MARKERS[kind]), 'utf8')) as T
  } catch {
    return null
  }
}

/** Atomic and durable: a temp file, fsynced, renamed, then the directory fsynced. */
export async function writeMarker (dir: string, kind: MarkerKind, value: object): Promise<void> {
  const path = join(dir, MARKERS[kind])
  const fh = await open(path + '.tmp', 'w')
  try {
    await fh.writeFile(JSON.stringify(value) + '\n')
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(path + '.tmp', path)
  await syncDir(dir)
}

export async function removeMarker (dir: string, kind: MarkerKind): Promise<void> {
  const path = join(dir, MARKERS[kind])
  if (!existsSync(path)) return
  await rm(path, { force: true })
  await syncDir(dir)
}

async function syncDir (dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try { await fh.sync() } finally { await fh.close() }
}

/** Whether `dir` looks like a LevelDB database (also one whose CURRENT or LOCK is gone). */
export function isLevelDir (dir: string): boolean {
  try {
    return readdirSync(dir).some(f => f === 'CURRENT' || /^MANIFEST-\d+$/.test(f))
  } catch {
    return false
  }
}

/**
 * Bytes LevelDB dropped while replaying its logs at open, from its LOG file: lines
 * "... /path/000003.log: dropping 20992 bytes; Corruption: checksum mismatch".
 */
export function droppedBytes (info: string): { bytes: number, files: string[] } {
  let bytes = 0
  const files = new Set<string>()
  for (const m of info.matchAll(/([^\s/]+\.log): dropping (\d+) bytes/g)) {
    files.add(m[1])
    bytes += Number(m[2])
  }
  return { bytes, files: [...files] }
}

export interface RepairReport {
  /** Tables the repaired database is made of, and their bytes. */
  files: number
  bytes: number
  /** Log bytes that could not be replayed (corrupt records). */
  droppedLogBytes: number
  /** Tables that could not be read in full, and the entries kept from them. */
  damagedTables: Array<{ table: string, kept: number, error: string }>
}

/** What RepairDB did, from the LOG it writes (repair.cc's messages). */
export function repairReport (info: string): RepairReport {
  const report: RepairReport = { files: 0, bytes: 0, droppedLogBytes: 0, damagedTables: [] }
  for (const m of info.matchAll(/Log #\d+: dropping (\d+) bytes/g)) report.droppedLogBytes += Number(m[1])
  const kept = new Map<string, number>()
  for (const m of info.matchAll(/Table #(\d+): (\d+) entries repaired/g)) kept.set(m[1], Number(m[2]))
  for (const m of info.matchAll(/Table #(\d+): (?:\d+ entries (?!OK|repaired)|dropped: )(.*)/g)) {
    report.damagedTables.push({ table: `${m[1].padStart(6, '0')}.ldb`, kept: kept.get(m[1]) ?? 0, error: m[2].trim() })
  }
  const done = /recovered (\d+) files; (\d+) bytes/.exec(info)
  if (done) {
    report.files = Number(done[1])
    report.bytes = Number(done[2])
  }
  return report
}
