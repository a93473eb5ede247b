// `swallow repair --data-dir DIR`: runs LevelDB's repair (RepairDB, via classic-level) on
// every embedded LevelDB store under the data dir (sessions, retained), with the broker
// stopped. RepairDB rebuilds the database from every table and log it can read: entries in
// unreadable parts are gone for good; the originals are kept in <store>/lost/. It prints
// what it did; the next start logs the records restored against the last clean stop's.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { ConfigError, StartupError } from './errors.js'
import { isLevelDir, readMarker, removeMarker, repairReport, writeMarker, type Counts, type RepairReport } from './level-files.js'

const HELP = `Usage: swallow repair [--data-dir DIR]

Rebuilds the broker's embedded LevelDB stores under DIR (default ./data, env SWALLOW_DATA_DIR)
with LevelDB's repair, when "swallow start" refused to start because one is damaged. Stop
the broker first. Every readable record is kept; records in unreadable parts are not
recoverable (the originals stay in <store>/lost/). The next start logs how many sessions,
queued messages and retained messages were restored.
`

export async function run (args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HELP)
    return 0
  }
  const dataDir = resolve(parseDataDir(args))
  if (!existsSync(dataDir) || !statSync(dataDir).isDirectory()) throw new ConfigError(`--data-dir: ${dataDir} is not a directory`)
  const stores = readdirSync(dataDir).map(name => join(dataDir, name)).filter(isLevelDir)
  if (stores.length === 0) {
    process.stdout.write(`no embedded LevelDB store in ${dataDir}: nothing to repair\n`)
    return 0
  }
  for (const location of stores) await assertNotInUse(location, dataDir)
  for (const location of stores) process.stdout.write(describe(location, await repair(location)) + '\n')
  process.stdout.write('Records in unreadable parts are not recoverable. Start the broker: it logs what each store restored, against the counts of the last clean stop when there was one.\n')
  return 0
}

function parseDataDir (args: string[]): string {
  let dir = process.env.SWALLOW_DATA_DIR ?? './data'
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (arg === '--data-dir' && args[i + 1] !== undefined) dir = args[++i]
    else if (arg.startsWith('--data-dir=')) dir = arg.slice('--data-dir='.length)
    else throw new ConfigError(`repair: unknown argument "${arg}"; usage: swallow repair [--data-dir DIR]`)
  }
  return dir
}

/** RepairDB takes no lock of its own: refuse while a broker holds the store. */
async function assertNotInUse (location: string, dataDir: string): Promise<void> {
  // createIfMissing false: with CURRENT gone this fails after taking the lock, touching nothing.
  const db = new ClassicLevel(location, { createIfMissing: false })
  try {
    await db.open()
  } catch (err) {
    if ((err as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED') {
      throw new StartupError(`repair: ${location} is in use by a running broker; stop it (the one with --data-dir ${dataDir}) and run the repair again`)
    }
    return
  }
  await db.close()
}

async function repair (location: string): Promise<RepairReport> {
  try {
    await ClassicLevel.repair(location)
  } catch (err) {
    throw new StartupError(`repair: LevelDB could not repair ${location}: ${(err as Error).message}`)
  }
  const report = repairReport(await readFile(join(location, 'LOG'), 'utf8').catch(() => ''))
  const stop = await readMarker<{ counts: Counts | null }>(location, 'stop')
  await writeMarker(location, 'repaired', { repairedAt: new Date().toISOString(), before: stop?.counts ?? null, summary: summary(report) })
  await removeMarker(location, 'stop')
  await removeMarker(location, 'damaged')
  return report
}

function summary (r: RepairReport): string {
  const parts = [`rebuilt from ${r.files} table file${r.files === 1 ? '' : 's'} (${r.bytes} bytes)`]
  if (r.droppedLogBytes > 0) parts.push(`${r.droppedLogBytes} corrupt log bytes dropped`)
  for (const t of r.damagedTables) parts.push(`${t.table} unreadable (${t.error}): ${t.kept} entries kept from it`)
  if (r.droppedLogBytes === 0 && r.damagedTables.length === 0) parts.push('nothing unreadable found')
  return parts.join('; ')
}

function describe (location: string, r: RepairReport): string {
  const lost = existsSync(join(location, 'lost')) ? `; originals in ${join(location, 'lost')}` : ''
  return `${location}: ${summary(r)}${lost}`
}
