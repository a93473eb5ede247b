// `swallow <command>`: parses argv, calls one function, maps errors to exit codes
// (2: wrong usage or config, 1: the broker could not start or failed).
import './quiet-debug.js' // first: before anything loads mqtt-packet
import { unlinkSync, writeFileSync } from 'node:fs'
import { builtinCommands, builtinPlugins, pluginOptions } from './builtins.js'
import { createSwallow, type Swallow } from './broker.js'
import { isLoopbackHost } from './listeners/admin-guard.js'
import { coreOptions, loadConfig } from './config.js'
import { ConfigError, isUserError } from './errors.js'
import { createLogger, type Logger } from './logger.js'
import { envName, flagName, formatDefault, type OptionSpec } from './options.js'
import { VERSION } from './version.js'

interface Command {
  summary: string
  passHelp?: boolean
  run: (args: string[]) => Promise<void>
  help: () => string
}

const commands: Record<string, Command> = {
  start: { summary: 'run the broker', run: start, help: startHelp },
  repair: {
    summary: 'rebuild damaged embedded storage (LevelDB repair) with the broker stopped',
    passHelp: true,
    help: () => 'Run "swallow repair --help".\n',
    run: async (args: string[]) => {
      const code = await (await import('./repair.js')).run(args)
      if (code !== 0) process.exitCode = code
    }
  },
  ...Object.fromEntries(Object.entries(builtinCommands).map(([name, c]) => [name, {
    summary: c.summary,
    help: () => `Run "swallow ${name} --help".\n`,
    // External commands print their own --help, so --help is passed through to them.
    passHelp: true,
    run: async (args: string[]) => {
      const code = await (await c.load()).run(args)
      if (code !== 0) process.exitCode = code
    }
  }]))
}

export async function main (argv: string[]): Promise<void> {
  try {
    const [name, ...rest] = argv
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      const topic = rest[0] !== undefined ? commands[rest[0]] : undefined
      process.stdout.write(topic ? topic.help() : generalHelp())
      return
    }
    if (name === '--version' || name === '-v' || name === 'version') {
      process.stdout.write(`swallow ${VERSION}\n`)
      return
    }
    const command = commands[name]
    if (!command) throw new ConfigError(`unknown command "${name}"; commands: ${Object.keys(commands).join(', ')} (see swallow --help)`)
    if (!command.passHelp && (rest.includes('--help') || rest.includes('-h'))) {
      process.stdout.write(command.help())
      return
    }
    await command.run(rest)
  } catch (err) {
    fail(err)
  }
}

function fail (err: unknown): never {
  if (isUserError(err)) {
    process.stderr.write(`swallow: ${err.message}\n`)
    process.exit(err.exitCode)
  }
  process.stderr.write(`swallow: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`)
  process.exit(1)
}

async function start (args: string[]): Promise<void> {
  const config = loadConfig({ argv: args, env: process.env, pluginOptions })
  const log = createLogger(config)
  const swallow = await createSwallow(config, builtinPlugins, log)
  // Before the startup line: whoever reads that line may signal at once.
  handleSignals(swallow, log, config.shutdownTimeout + CLOSE_GRACE_MS)
  const where = swallow.listeners.map(l => l.url).join(', ')
  const storage = config.storage === 'embedded' ? `embedded in ${swallow.storage.dataDir}` : config.storage
  const exposure = !config.hostExplicit && isLoopbackHost(config.host) ? '; loopback only: pass --host 0.0.0.0 to accept clients from other machines' : ''
  if (config.pidFile !== null) writePidFile(config.pidFile)
  log.info({ listeners: Object.fromEntries(swallow.listeners.map(l => [l.name, l.url])), storage: config.storage, dataDir: swallow.storage.dataDir },
    `Swallow ${VERSION} (pid ${process.pid}) listening on ${where || '(no listeners)'} (storage: ${storage}${exposure})`)
}

/** --pid-file: `kill -HUP $(cat FILE)` reaches the broker itself, not an npm or npx wrapper. */
function writePidFile (file: string): void {
  try {
    writeFileSync(file, `${process.pid}\n`)
  } catch (err) {
    throw new ConfigError(`--pid-file: cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; choose a writable path`)
  }
  process.once('exit', () => { try { unlinkSync(file) } catch {} })
}

/**
 * How long closing may take after --shutdown-timeout's drain: a store that cannot be reached
 * (Redis down) would otherwise hold the shutdown forever.
 */
const CLOSE_GRACE_MS = 5000

function handleSignals ({ close, reload }: Pick<Swallow, 'close' | 'reload'>, log: Logger, closeTimeoutMs: number): void {
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    stopping = true
    log.info({ signal }, 'shutting down')
    setTimeout(() => {
      // Safe: nothing was acknowledged that was not stored, so the devices resend what is missing.
      log.error({ timeoutMs: closeTimeoutMs }, 'shutdown did not finish: storage unreachable (is Redis down?); exiting without closing it cleanly')
      process.exit(1)
    }, closeTimeoutMs).unref()
    close().then(() => {
      log.info('stopped')
      process.exit(0)
    }, err => {
      log.error({ err }, 'error while shutting down')
      process.exit(1)
    })
  }
  process.on('SIGHUP', () => { void reload('SIGHUP') })
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('uncaughtException', err => {
    log.fatal({ err }, 'uncaught exception; exiting')
    process.exit(1)
  })
}

function generalHelp (): string {
  const lines = [
    `swallow ${VERSION} - MQTT broker for IoT fleets`,
    '',
    'Usage: swallow <command> [options]',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`),
    '',
    'Run "swallow <command> --help" for the options of a command (swallow start --help: the broker\'s).',
    ''
  ]
  return lines.join('\n')
}

function startHelp (): string {
  const rows = (specs: readonly OptionSpec[]): string[] => specs.map(spec => {
    const flag = `${flagName(spec)} ${valueHint(spec)}`
    return `  ${flag.padEnd(34)} ${spec.help}\n  ${''.padEnd(34)} default: ${formatDefault(spec)}; env ${envName(spec)}`
  })
  return [
    'Usage: swallow start [options]   (npm start -- [options])',
    '',
    'Every option is also an environment variable (shown) and a key of the JSON file given',
    'to --config ("mqttPort": 1883; plugin keys nest: { "sys": { "interval": "30s" } }).',
    'Precedence: flag > environment > config file > default.',
    '',
    'Options:',
    ...rows(coreOptions),
    '',
    'Plugin options:',
    ...rows(pluginOptions),
    ''
  ].join('\n')
}

function valueHint (spec: OptionSpec): string {
  switch (spec.type) {
    case 'port': return spec.allowOff ? 'N|off' : 'N'
    case 'int': return 'N'
    case 'bool': return '[true|false]'
    case 'enum': return (spec.choices ?? []).join('|')
    case 'duration': return spec.allowOff ? 'TIME|off' : 'TIME'
    case 'size': return 'SIZE'
    case 'list': return 'A,B'
    case 'string': return spec.key === 'config' ? 'FILE' : spec.key.endsWith('Dir') ? 'DIR' : 'VALUE'
  }
}
