// Where streams live on disk: <data-dir>/log/<stream>/ (segments) and .../groups/ (offsets).
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'

/** Stream and consumer group names: safe as file names and Redis key parts. */
export const NAME_PATTERN = /^[A-Za-z0-9._-]{1,128}$/

export function isValidName (name: string): boolean {
  return NAME_PATTERN.test(name) && name !== '.' && name !== '..'
}

export function logRoot (dataDir: string): string {
  return join(dataDir, 'log')
}

export function streamDir (dataDir: string, stream: string): string {
  return join(dataDir, 'log', stream)
}

/** Names of the streams with a directory under <data-dir>/log. */
export async function listStreamDirs (dataDir: string): Promise<string[]> {
  try {
    const entries = await readdir(logRoot(dataDir), { withFileTypes: true })
    return entries.filter(e => e.isDirectory() && isValidName(e.name)).map(e => e.name).sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}
