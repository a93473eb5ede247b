// Opening an embedded LevelDB store (sessions, retained) so that damage stops the start with
// one line naming the store and `swallow repair`, instead of a raw error or silent loss.
//
// LevelDB alone (classic-level exposes no paranoid_checks) is silent in three cases the
// fault probe hit: a missing CURRENT makes it start an empty database and delete the old
// tables; a corrupt record inside a .log is dropped with a line in its LOG file only; a
// truncated .log is taken for a crash tail. So, besides mapping open and read errors:
//  - before opening: CURRENT missing while tables or logs exist -> refuse (nothing touched);
//  - after opening: LevelDB's LOG names dropped bytes -> refuse;
//  - a clean stop writes a sentinel key as the store's last write and, after closing, a
//    marker file holding the same token and the record counts. At the next start a missing
//    or different sentinel means the end of the log was lost -> refuse.
// A refusal whose evidence LevelDB has already consumed (the dropped log is replaced by a
// table at open) is written to a SWALLOW-DAMAGED note, so that restarting again does not
// start silently: only `swallow repair` removes it. After a kill -9 there is no marker, so a
// log truncated after a crash is not detected (it is indistinguishable from a crash tail).
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { StartupError } from './errors.js'
import { droppedBytes, isLevelDir, readMarker, removeMarker, writeMarker, type Counts } from './level-files.js'
import type { Logger } from './logger.js'

export type { Counts } from './level-files.js'

export interface GuardedStore {
  /** How the user knows it: "sessions store", "retained store". */
  label: string
  /** The LevelDB directory. */
  location: string
  /** The broker's --data-dir (for the repair command in messages). */
  dataDir: string
}

const SENTINEL = '~swallow:clean-stop'

interface StopMarker { token: string, stoppedAt: string, counts: Counts | null, logs: string[] }
interface DamageNote { detectedAt: string, problem: string }
interface RepairNote { repairedAt: string, before: Counts | null, summary: string }

function repairHint (store: GuardedStore): string {
  return `run "swallow repair --data-dir ${store.dataDir}" to rebuild it from its readable records, then start again`
}

/** The one-line error for a damaged store. */
function damaged (store: GuardedStore, problem: string): StartupError {
  return new StartupError(`${store.label} ${store.location} is damaged: ${problem}; ${repairHint(store)}`)
}

/** Maps an error LevelDB raised while opening or reading the store at start. */
export function startFailure (store: GuardedStore, err: unknown): StartupError {
  const e = err as { code?: string, message?: string, cause?: { code?: string, message?: string } }
  const code = e.cause?.code ?? e.code
  const message = e.cause?.message ?? e.message ?? String(err)
  if (code === 'LEVEL_LOCKED') {
    return new StartupError(`--data-dir: ${store.dataDir} is in use by another Swallow process (LevelDB lock held); stop that broker or pass another --data-dir`)
  }
  // The environment, not the files: a repair would not help.
  if (/Permission denied|No space left|Too many open files|Read-only file system/.test(message)) {
    return new StartupError(`${store.label}: cannot open ${store.location}: ${message}; fix the permissions, space or limits of --data-dir`)
  }
  if (code === 'LEVEL_CORRUPTION' || code === 'LEVEL_IO_ERROR' || /^(Corruption|IO error):/.test(message)) {
    return damaged(store, message.replace(store.location + '/', ''))
  }
  return new StartupError(`${store.label}: cannot open ${store.location}: ${message}`)
}

/** Checks made before LevelDB touches the directory. */
async function checkBeforeOpen (store: GuardedStore): Promise<void> {
  const note = await readMarker<DamageNote>(store.location, 'damaged')
  if (note) throw damaged(store, `${note.problem} (found ${note.detectedAt})`)
  if (!existsSync(store.location) || existsSync(join(store.location, 'CURRENT'))) return
  const files = readdirSync(store.location).filter(f => /^(MANIFEST-\d+|\d+\.(ldb|sst|log))$/.test(f))
  // Opening now would create an empty database and delete these tables for good.
  if (files.length > 0) throw damaged(store, `its CURRENT file is missing (${files.length} table, log or manifest files are there)`)
}

/**
 * Creates the store's directory (and its parents) if needed, then opens it guarded. A
 * directory that cannot be made is one StartupError naming `who` (the setting or the store).
 */
export async function createAndOpenGuarded (store: GuardedStore, who = store.label): Promise<ClassicLevel<string, Buffer>> {
  try {
    makeDirectory(store.location)
  } catch (err) {
    throw new StartupError(`${who}: cannot create ${store.location}: ${(err as NodeJS.ErrnoException).code}; choose a writable directory with --data-dir`)
  }
  return await openGuarded(store)
}

/** mkdir -p that fails instead of looping: Node 20's recursive mkdirSync never returns for a path under /proc. */
function makeDirectory (dir: string): void {
  const missing: string[] = []
  for (let at = dir; !existsSync(at); at = dirname(at)) {
    missing.unshift(at)
    if (dirname(at) === at) break
  }
  for (const path of missing) mkdirSync(path)
}

/**
 * Opens the store with the checks above and below; throws a StartupError on damage. The
 * database is created here, after the first checks: classic-level opens itself (creating a
 * missing database) right after construction, which must not happen before them.
 */
export async function openGuarded (store: GuardedStore): Promise<ClassicLevel<string, Buffer>> {
  await checkBeforeOpen(store)
  const db = new ClassicLevel<string, Buffer>(store.location, { valueEncoding: 'buffer' })
  try {
    // Never create over existing files (a CURRENT deleted since the check, say).
    await db.open({ createIfMissing: !isLevelDir(store.location) })
  } catch (err) {
    throw startFailure(store, err)
  }
  try {
    await checkAfterOpen(db, store)
  } catch (err) {
    await db.close().catch(() => {})
    throw err
  }
  return db
}

async function checkAfterOpen (db: ClassicLevel<string, Buffer>, store: GuardedStore): Promise<void> {
  const info = await readFile(join(store.location, 'LOG'), 'utf8').catch(() => '')
  const dropped = droppedBytes(info)
  if (dropped.bytes > 0) {
    await refuse(store, `LevelDB dropped ${dropped.bytes} corrupt bytes of ${dropped.files.join(', ')} while opening it (the records in them are gone)`)
  }
  const marker = await readMarker<StopMarker>(store.location, 'stop')
  if (marker) {
    const sentinel = await db.get(SENTINEL)
    if (sentinel?.toString() !== marker.token) {
      await refuse(store, `the records written last before the clean stop at ${marker.stoppedAt} are missing (${marker.logs.join(', ') || 'its log'} was truncated or replaced since)`)
    }
  }
}

async function refuse (store: GuardedStore, problem: string): Promise<never> {
  await writeMarker(store.location, 'damaged', { detectedAt: new Date().toISOString(), problem } satisfies DamageNote)
  throw damaged(store, problem)
}

/**
 * After the store's records are loaded: logs what a repair restored (once), and forgets the
 * clean-stop marker (a later crash must not be compared with it).
 */
export async function afterLoad (store: GuardedStore, counts: Counts, log: Logger): Promise<void> {
  const repaired = await readMarker<RepairNote>(store.location, 'repaired')
  if (repaired) {
    log.warn({ store: store.label, location: store.location, restored: counts, atLastCleanStop: repaired.before, repair: repaired.summary },
      `${store.label} was repaired at ${repaired.repairedAt}: restored ${describeCounts(counts, repaired.before)}` +
      `${repaired.before === null ? ' (no clean stop before it to compare with)' : ''}; records LevelDB could not read are not recoverable`)
    await removeMarker(store.location, 'repaired')
  }
  await removeMarker(store.location, 'stop')
}

/** "3 sessions, 1500 of 3000 queued messages (1500 lost)" */
function describeCounts (now: Counts, before: Counts | null): string {
  return Object.entries(now).map(([what, n]) => {
    const was = before?.[what]
    if (was === undefined || was === n) return `${n} ${what}`
    return was > n ? `${n} of ${was} ${what} (${was - n} lost)` : `${n} ${what} (${was} at the last clean stop)`
  }).join(', ')
}

/**
 * A clean stop: the sentinel is the store's last write, then `close` closes the database,
 * then the marker names the sentinel. `counts` false: write nothing (the store's writes are
 * refused, src/level-write-gate.ts); the next start then has no marker to check, as after a
 * crash. If a write fails here (disk full), likewise.
 */
export async function closeGuarded (db: ClassicLevel<string, Buffer>, store: GuardedStore, counts: Counts | null | false, close: () => Promise<void>): Promise<void> {
  if (counts === false) return await close()
  const token = randomUUID()
  const marked = await db.put(SENTINEL, Buffer.from(token), { sync: true }).then(() => true, () => false)
  await close()
  if (!marked) return
  const logs = readdirSync(store.location).filter(f => /^\d+\.log$/.test(f))
  await writeMarker(store.location, 'stop', { token, stoppedAt: new Date().toISOString(), counts, logs } satisfies StopMarker).catch(() => {})
}
