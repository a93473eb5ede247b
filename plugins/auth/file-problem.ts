// A mistake in a user's file, located at file:line. At startup it becomes a ConfigError
// (exit 2); on reload it is logged and the previous rules stay in force.
export class FileProblem extends Error {
  override name = 'FileProblem'
  constructor (readonly file: string, readonly line: number, readonly problem: string) {
    super(line > 0 ? `${file}:${line}: ${problem}` : `${file}: ${problem}`)
  }
}
