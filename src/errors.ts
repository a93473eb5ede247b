// Errors a user can cause are values with a message written for that user: what is wrong,
// where, and how to fix it. The CLI prints the message alone (no stack) and exits with
// the code below. Anything else is a bug: logged with its stack, exit 1.

/** Wrong flag, env var, config key or value. Exit code 2. */
export class ConfigError extends Error {
  override name = 'ConfigError'
  readonly exitCode = 2
}

/** The environment refuses to start the broker (port in use, data dir locked, ...). Exit code 1. */
export class StartupError extends Error {
  override name = 'StartupError'
  readonly exitCode = 1
}

export function isUserError (err: unknown): err is ConfigError | StartupError {
  return err instanceof ConfigError || err instanceof StartupError
}
