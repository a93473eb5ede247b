// Files that are re-read on SIGHUP and when they change on disk. A file that fails to
// parse keeps its previous contents in force; the problem (file:line) is reported to the
// caller to log. At startup the same problem is a ConfigError (exit 2).
import { readFileSync, watch, type FSWatcher } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { basename, dirname, resolve } from 'node:path'
import { ConfigError } from '../../src/errors.js'
import { FileProblem } from './file-problem.js'

export type Parser<T> = (text: string, file: string) => T

/** reloaded / repaired: the value was replaced (repaired: after a reload that failed). */
export type FileReload = 'unchanged' | 'reloaded' | 'repaired' | FileProblem

export class ReloadableFile<T> {
  private text: string
  /** The last reload failed: the value in force is older than the file. */
  private broken = false
  value: T

  /** Reads and parses the file now; a problem throws ConfigError naming file:line. */
  constructor (readonly path: string, private readonly parse: Parser<T>) {
    try {
      this.text = readFileSync(path, 'utf8')
    } catch (err) {
      throw new ConfigError(`${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; check the path`)
    }
    try {
      this.value = parse(this.text, path)
    } catch (err) {
      if (err instanceof FileProblem) throw new ConfigError(err.message)
      throw err
    }
  }

  /** Re-reads the file; keeps the current value when it cannot be read or parsed. */
  async reload (): Promise<FileReload> {
    const outcome = await this.read()
    if (outcome instanceof FileProblem) {
      this.broken = true
      return outcome
    }
    // Good again, also when fixed back to the very contents in force ('unchanged').
    if (this.broken) {
      this.broken = false
      return 'repaired'
    }
    return outcome
  }

  private async read (): Promise<'unchanged' | 'reloaded' | FileProblem> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (err) {
      return new FileProblem(this.path, 0, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    if (text === this.text) return 'unchanged'
    try {
      this.value = this.parse(text, this.path)
    } catch (err) {
      if (err instanceof FileProblem) return err
      return new FileProblem(this.path, 0, (err as Error).message)
    }
    this.text = text
    return 'reloaded'
  }
}

/**
 * Calls `onChange` (debounced) when any of `paths` changes. Watches the directories, not
 * the files: editors and `swallow passwd` replace a file by renaming a new one over it,
 * which a watch on the old inode would miss.
 */
export function watchFiles (paths: readonly string[], onChange: () => void, debounceMs = 100): { close: () => void } {
  const byDir = new Map<string, Set<string>>()
  for (const p of paths) {
    const abs = resolve(p)
    const names = byDir.get(dirname(abs)) ?? new Set<string>()
    names.add(basename(abs))
    byDir.set(dirname(abs), names)
  }
  let timer: NodeJS.Timeout | null = null
  const trigger = (): void => {
    if (timer) clearTimeout(timer)
    timer = setTimeout(() => { timer = null; onChange() }, debounceMs)
    timer.unref()
  }
  const watchers: FSWatcher[] = []
  for (const [dir, names] of byDir) {
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        // "..data" and friends: Kubernetes updates a mounted ConfigMap by swapping a symlink.
        if (name === null || names.has(String(name)) || String(name).startsWith('..')) trigger()
      })
      w.on('error', () => {}) // a vanished directory must not crash the broker; SIGHUP still works
      watchers.push(w)
    } catch {
      // Unwatchable directory (e.g. permissions): SIGHUP still reloads.
    }
  }
  return {
    close () {
      if (timer) clearTimeout(timer)
      for (const w of watchers) w.close()
    }
  }
}
