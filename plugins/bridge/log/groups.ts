// Consumer groups of the embedded store: one small JSON file per group under
// <stream dir>/groups/, replaced atomically (write, fsync, rename, fsync dir), so a committed
// offset survives a crash of the broker or of the consumer.
import { mkdir, open, readdir, readFile, rename } from 'node:fs/promises'
import { join } from 'node:path'

export interface GroupPosition {
  group: string
  /** The next offset the group reads (everything before it is processed). */
  offset: number
  committedAt: string | null
}

export interface GroupStore {
  get: (group: string) => Promise<GroupPosition | null>
  /** Every group with a committed position, by name. */
  list: () => Promise<GroupPosition[]>
  commit: (group: string, offset: number) => Promise<GroupPosition>
}

export class FileGroupStore implements GroupStore {
  private readonly dir: string
  constructor (streamDir: string) {
    this.dir = join(streamDir, 'groups')
  }

  async get (group: string): Promise<GroupPosition | null> {
    try {
      const data = JSON.parse(await readFile(join(this.dir, `${group}.json`), 'utf8')) as { offset: number, committedAt: string }
      return { group, offset: data.offset, committedAt: data.committedAt }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw err
    }
  }

  async list (): Promise<GroupPosition[]> {
    let files: string[]
    try {
      files = await readdir(this.dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
    // <group>.json; a <group>.json.<pid>.tmp is a commit in progress (or one a crash left).
    const names = files.filter(f => f.endsWith('.json')).map(f => f.slice(0, -'.json'.length)).sort()
    const found = await Promise.all(names.map(async name => await this.get(name)))
    return found.filter((g): g is GroupPosition => g !== null)
  }

  async commit (group: string, offset: number): Promise<GroupPosition> {
    await mkdir(this.dir, { recursive: true })
    const position = { group, offset, committedAt: new Date().toISOString() }
    const file = join(this.dir, `${group}.json`)
    const tmp = `${file}.${process.pid}.tmp`
    const fh = await open(tmp, 'w')
    try {
      await fh.writeFile(JSON.stringify({ offset, committedAt: position.committedAt }) + '\n')
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, file)
    const dh = await open(this.dir, 'r')
    try { await dh.sync() } finally { await dh.close() }
    return position
  }
}
