// One typed Config, built as defaults <- config file <- environment (SWALLOW_*) <- flags.
import { readFileSync } from 'node:fs'
import { ConfigError } from './errors.js'
import { envName, flagName, parseOptionValue, type OptionSpec } from './options.js'
import { QUEUE_FULL_POLICIES, type QueueFullPolicy } from './protocol/outbound.js'
import { SHARED_STRATEGIES, type SharedStrategy } from './protocol/shared-members.js'
import { parseSharedGroupEntry, parseSharedGroupItem, sharedGroupsByName, type SharedGroupConfig } from './shared-group-config.js'

export type StorageKind = 'embedded' | 'memory' | 'redis'
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

export interface Config {
  /** Address every listener binds to. */
  host: string
  /** True when the user chose the host; false when it is the loopback-only default. */
  hostExplicit: boolean
  mqttPort: number | null
  wsPort: number | null
  wsPath: string
  wsOrigins: string[]
  httpPort: number | null
  adminToken: string | null
  adminReadToken: string | null
  mqttsPort: number | null
  wssPort: number | null
  tlsCert: string | null
  tlsKey: string | null
  tlsCa: string | null
  tlsRequireClientCert: boolean
  dataDir: string
  storage: StorageKind
  redisUrl: string
  redisRouteMaxlen: number
  logLevel: LogLevel
  logFormat: 'auto' | 'json' | 'pretty'
  maxClientIdLength: number
  maxPacketSize: number
  connectTimeout: number
  maxConnections: number
  maxInflight: number
  maxQueued: number
  queueFullPolicy: QueueFullPolicy
  maxQueuedBytes: number
  maxSubscriptionsPerClient: number
  /** Milliseconds; null: as long as the client asks (MQTT 3.1.1 persistent sessions: forever). */
  maxSessionExpiry: number | null
  maxSessions: number
  sessionSweepInterval: number
  /** Milliseconds; null: any keep alive the client asks for. */
  maxKeepalive: number | null
  responseInformation: string | null
  sharedStrategy: SharedStrategy
  /** Per shared group name: its strategy, overriding sharedStrategy. */
  sharedGroups: Record<string, { strategy: SharedStrategy }>
  logRepeatLimit: number
  maxBufferedBytes: number
  partialPacketTimeout: number
  logRepeatWindow: number
  sharedBacklog: number
  sharedClaimTimeout: number
  slowClientTimeout: number
  shutdownTimeout: number
  heartbeatInterval: number
  configFile: string | null
  pidFile: string | null
  /** Plugin settings, by section name ("sys" for the sys.* keys). Validated by their specs. */
  sections: Record<string, Record<string, unknown>>
}

export const coreOptions: readonly OptionSpec[] = [
  { key: 'config', type: 'string', default: null, defaultText: '(none)', help: 'JSON config file; flags and SWALLOW_* env vars override its keys' },
  { key: 'host', type: 'string', default: '127.0.0.1', defaultText: '127.0.0.1 (loopback only)', help: 'address all listeners bind to; 0.0.0.0 accepts remote clients' },
  { key: 'mqttPort', type: 'port', allowOff: true, default: 1883, help: 'MQTT over TCP port' },
  { key: 'wsPort', type: 'port', allowOff: true, default: 8083, help: 'MQTT over WebSocket port' },
  { key: 'wsPath', type: 'string', default: '/mqtt', help: 'URL path of the WebSocket endpoint' },
  { key: 'wsOrigins', type: 'list', default: [], defaultText: '(any origin)', help: 'allowed Origin headers for WebSocket clients, comma-separated' },
  { key: 'httpPort', type: 'port', allowOff: true, default: 8080, help: 'HTTP port for /healthz, /metrics and /api' },
  { key: 'adminToken', type: 'string', default: null, defaultText: '(none: /api only on a loopback-only listener)', help: 'bearer token the /api admin routes require (retained store, log streams)' },
  { key: 'adminReadToken', type: 'string', default: null, defaultText: '(none)', help: 'second bearer token for /api that may only read (GET): for dashboards and monitoring (needs --admin-token)' },
  { key: 'mqttsPort', type: 'port', allowOff: true, default: 8883, help: 'MQTT over TLS port (needs --tls-cert and --tls-key)' },
  { key: 'wssPort', type: 'port', allowOff: true, default: 8084, help: 'MQTT over secure WebSocket port (needs --tls-cert and --tls-key)' },
  { key: 'tlsCert', type: 'string', default: null, defaultText: '(none: TLS listeners off)', help: 'server certificate (PEM, may include the chain); reloaded on SIGHUP' },
  { key: 'tlsKey', type: 'string', default: null, defaultText: '(none)', help: 'private key of --tls-cert (PEM); reloaded on SIGHUP' },
  { key: 'tlsCa', type: 'string', default: null, defaultText: '(none)', help: 'CA certificate(s) that client certificates must chain to (PEM)' },
  { key: 'tlsRequireClientCert', type: 'bool', default: false, help: 'refuse TLS clients without a certificate signed by --tls-ca' },
  { key: 'dataDir', type: 'string', default: './data', help: 'directory for embedded storage' },
  { key: 'storage', type: 'enum', choices: ['embedded', 'memory', 'redis'], default: 'embedded', help: 'session storage: embedded (LevelDB in --data-dir, durable), memory (lost on exit) or redis (shared by a cluster)' },
  { key: 'redisUrl', type: 'string', default: 'redis://127.0.0.1:6379/0', help: 'Redis for --storage redis: redis://[:password@]host:port/db or rediss:// for TLS' },
  { key: 'redisRouteMaxlen', type: 'int', min: 1000, default: 100_000, help: 'with --storage redis: QoS 1/2 messages kept (approximately) in the cross-node route stream, for nodes whose connection to Redis drops for a moment' },
  { key: 'logLevel', type: 'enum', choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', help: 'log level; payloads are logged only at trace' },
  { key: 'logFormat', type: 'enum', choices: ['auto', 'json', 'pretty'], default: 'auto', help: 'auto = one line per event on a terminal (pretty), JSON lines otherwise' },
  { key: 'logRepeatLimit', type: 'int', min: 1, default: 10, help: 'per-connection warnings (connection refused, closed on error, slow client) logged per --log-repeat-window for each kind; beyond it one summary line says how many more' },
  { key: 'logRepeatWindow', type: 'duration', min: 1000, default: 60_000, help: 'the window of --log-repeat-limit' },
  { key: 'maxClientIdLength', type: 'int', min: 1, default: 128, help: 'longest client id accepted (longer ids get CONNACK 0x02)' },
  { key: 'maxPacketSize', type: 'size', min: 64, default: 1024 * 1024, help: 'largest MQTT packet accepted; a bigger one closes that connection' },
  { key: 'connectTimeout', type: 'duration', min: 100, default: 10_000, help: 'a connection that sends no CONNECT within this time is closed' },
  { key: 'maxConnections', type: 'int', min: 1, default: 10_000, help: 'connected clients allowed; more get CONNACK 0x03 (server unavailable)' },
  { key: 'maxInflight', type: 'int', min: 1, default: 100, help: 'QoS 1/2 messages sent to one client and not yet acknowledged' },
  { key: 'maxQueued', type: 'int', min: 0, default: 1000, help: 'QoS 1/2 messages waiting in memory behind the in-flight window per client; what happens beyond it: --queue-full-policy' },
  { key: 'queueFullPolicy', type: 'enum', choices: QUEUE_FULL_POLICIES, default: 'isolate', help: 'a client whose queue is full: isolate (a persistent session\'s further messages stay in its stored queue and are sent from there; a clean session\'s wait while it acknowledges and are dropped, counted, after 1 s without; publishers go on) or wait (deliveries to it and the publishers\' PUBACKs wait)' },
  { key: 'maxBufferedBytes', type: 'size', min: 1024, default: 128 * 1024 * 1024, help: 'bytes of unfinished packets all clients together may hold; the client whose packet crosses it is disconnected (counted)' },
  { key: 'partialPacketTimeout', type: 'duration', min: 100, default: 30_000, help: 'longest one packet may stay unfinished; then the client is disconnected (counted)' },
  { key: 'maxQueuedBytes', type: 'size', min: 0, default: 8 * 1024 * 1024, help: 'unsent bytes per client socket beyond which QoS 0 deliveries to it wait (1 s at most), then are dropped (counted)' },
  { key: 'maxSubscriptionsPerClient', type: 'int', min: 1, default: 1000, help: 'topic filters one session may hold; further filters get SUBACK 0x80 (counted)' },
  { key: 'sharedStrategy', type: 'enum', choices: SHARED_STRATEGIES, default: 'round_robin', help: 'how a shared subscription ($share/GROUP/FILTER) picks the member for each message: round_robin, random, sticky (the same member until it leaves), hash_clientid (by publisher), hash_topic, least_inflight, local (Redis storage: a member on the node the message was published on while one there has room)' },
  { key: 'sharedGroups', flag: '--shared-group', type: 'list', parseItem: parseSharedGroupItem, parseEntry: parseSharedGroupEntry, default: [], defaultText: '(none)', help: 'GROUP=STRATEGY: the strategy of one shared group (every $share/GROUP/... filter), overriding --shared-strategy, e.g. orders=hash_topic (repeatable; in the config file an object: "sharedGroups": { "orders": { "strategy": "hash_topic" } })' },
  { key: 'sharedBacklog', type: 'int', min: 0, default: 10_000, help: 'QoS 1/2 messages a shared group keeps while none of its members is connected (when one is a persistent session); more are dropped and counted' },
  { key: 'sharedClaimTimeout', type: 'duration', min: 500, default: 10_000, help: 'Redis storage: a shared group\'s message a node handed to a member and did not settle for this long (the node died) is delivered again by another node' },
  { key: 'responseInformation', type: 'string', default: null, defaultText: '(none)', help: 'MQTT 5: what a client asking for Response Information gets in CONNACK, the base of its response topics; %c is replaced by its client id (e.g. reply/%c/)' },
  { key: 'maxKeepalive', type: 'duration', min: 1000, default: null, defaultText: '(none)', help: 'longest keep alive a client may use: MQTT 5 clients asking for more (or for none) get this as Server Keep Alive in CONNACK; MQTT 3.1.1 clients asking for more get CONNACK 0x02' },
  { key: 'sessionSweepInterval', type: 'duration', min: 1000, default: 60_000, help: 'Redis storage: how often each node looks for stored sessions that expired while no node watched them (the node they ended on stopped)' },
  { key: 'maxSessions', type: 'int', min: 0, default: 100_000, help: 'stored (persistent) sessions kept, all cluster nodes together; a CONNECT that would store one more gets CONNACK 0x97 (MQTT 3.1.1: 3) and is counted (0: no limit)' },
  { key: 'maxSessionExpiry', type: 'duration', min: 1000, default: null, defaultText: '(none)', help: 'longest a stored session outlives its connection: caps an MQTT 5 Session Expiry Interval (CONNACK tells the client) and ends MQTT 3.1.1 persistent sessions too (none: they never expire)' },
  { key: 'slowClientTimeout', type: 'duration', min: 100, default: 30_000, help: 'a client whose queue is full and that acknowledges nothing for this long is disconnected' },
  { key: 'shutdownTimeout', type: 'duration', min: 0, default: 5000, help: 'on SIGINT/SIGTERM, how long to wait for in-flight acknowledgements' },
  { key: 'pidFile', type: 'string', default: null, defaultText: '(none)', help: 'write the broker\'s pid to this file once it listens (for kill -HUP $(cat FILE)); removed on exit' },
  { key: 'heartbeatInterval', type: 'duration', min: 200, default: 60_000, help: 'how often the broker announces itself; stored wills of clients whose broker stopped (crash, restart, dead cluster node) are published by a sweep every 4 x this' }
]

export interface ConfigSources {
  argv: readonly string[]
  env: NodeJS.ProcessEnv
  /** Plugin option specs (from src/builtins.ts), added to the core ones. */
  pluginOptions?: readonly OptionSpec[]
}

/** Builds the Config; throws ConfigError with a one-line, user-facing message. */
export function loadConfig ({ argv, env, pluginOptions = [] }: ConfigSources): Config {
  const specs = [...coreOptions, ...pluginOptions]
  const byFlag = new Map(specs.map(s => [flagName(s), s]))
  // A bug, not a user error: two settings claiming one flag would shadow each other.
  if (byFlag.size !== specs.length) throw new Error(`two options share a flag: ${specs.map(flagName).filter((f, i, all) => all.indexOf(f) !== i).join(', ')}`)
  const flags = parseArgv(argv, byFlag)
  const fromEnv = readEnv(env, specs)

  const configFile = (flags.get('config') ?? fromEnv.get('config') ?? null) as string | null
  const fromFile = configFile ? readConfigFile(configFile, specs) : new Map<string, unknown>()

  const values = new Map<string, unknown>()
  for (const spec of specs) {
    let value = spec.default
    for (const layer of [fromFile, fromEnv, flags]) {
      if (layer.has(spec.key)) value = layer.get(spec.key)
    }
    values.set(spec.key, value)
  }
  const explicitHost = [fromFile, fromEnv, flags].some(layer => layer.has('host'))
  return toConfig(values, specs, explicitHost, configFile)
}

function toConfig (values: Map<string, unknown>, specs: readonly OptionSpec[], hostExplicit: boolean, configFile: string | null): Config {
  const core: Record<string, unknown> = {}
  const sections: Record<string, Record<string, unknown>> = {}
  for (const spec of specs) {
    const dot = spec.key.indexOf('.')
    if (dot === -1) {
      core[spec.key] = values.get(spec.key)
    } else {
      const section = spec.key.slice(0, dot)
      sections[section] ??= {}
      sections[section][spec.key.slice(dot + 1)] = values.get(spec.key)
    }
  }
  const wsPath = core.wsPath as string
  if (!wsPath.startsWith('/')) {
    throw new ConfigError(`--ws-path: invalid value ${JSON.stringify(wsPath)}; expected a path starting with /`)
  }
  if (core.adminReadToken != null && (core.adminToken == null || core.adminReadToken === core.adminToken)) {
    throw new ConfigError('--admin-read-token: needs an --admin-token that differs from it (the read-only token can change nothing, so a broker with only it could not be operated)')
  }
  core.sharedGroups = sharedGroupsByName(core.sharedGroups as SharedGroupConfig[])
  delete core.config
  return { ...(core as unknown as Omit<Config, 'hostExplicit' | 'configFile' | 'sections'>), hostExplicit, configFile, sections }
}

function parseArgv (argv: readonly string[], byFlag: Map<string, OptionSpec>): Map<string, unknown> {
  const out = new Map<string, unknown>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (!arg.startsWith('--')) {
      throw new ConfigError(`unexpected argument ${JSON.stringify(arg)}; options start with -- (see swallow start --help)`)
    }
    const eq = arg.indexOf('=')
    const flag = eq === -1 ? arg : arg.slice(0, eq)
    const spec = byFlag.get(flag)
    if (!spec) throw new ConfigError(`unknown option ${flag}; run "swallow start --help" for the list of options`)
    let raw: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1)
    if (raw === undefined) {
      const next = argv[i + 1]
      if (spec.type === 'bool' && (next === undefined || next.startsWith('--'))) {
        raw = 'true'
      } else if (next === undefined) {
        throw new ConfigError(`${flag}: missing value; expected ${flag} VALUE`)
      } else {
        raw = next
        i++
      }
    }
    const value = parseOptionValue(spec, raw, flag)
    if (spec.type === 'list' && out.has(spec.key)) {
      out.set(spec.key, [...(out.get(spec.key) as string[]), ...(value as string[])])
    } else {
      out.set(spec.key, value)
    }
  }
  return out
}

function readEnv (env: NodeJS.ProcessEnv, specs: readonly OptionSpec[]): Map<string, unknown> {
  const out = new Map<string, unknown>()
  const known = new Set<string>()
  for (const spec of specs) {
    const name = envName(spec)
    known.add(name)
    const raw = env[name]
    if (raw !== undefined && raw !== '') out.set(spec.key, parseOptionValue(spec, raw, name))
  }
  for (const name of Object.keys(env)) {
    // SWALLOW_TEST_* is reserved for the test suite's own knobs.
    if (name.startsWith('SWALLOW_') && !known.has(name) && !name.startsWith('SWALLOW_TEST_')) {
      throw new ConfigError(`unknown environment variable ${name}; run "swallow start --help" for the list of options`)
    }
  }
  return out
}

function readConfigFile (file: string, specs: readonly OptionSpec[]): Map<string, unknown> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`--config: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; check the path`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`--config: ${file} is not valid JSON: ${(err as Error).message}`)
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ConfigError(`--config: ${file} must hold a JSON object of settings`)
  }
  const byKey = new Map(specs.map(s => [s.key, s]))
  const sections = new Set(specs.filter(s => s.key.includes('.')).map(s => s.key.split('.')[0]))
  const out = new Map<string, unknown>()
  const visit = (obj: Record<string, unknown>, prefix: string): void => {
    for (const [name, raw] of Object.entries(obj)) {
      const key = prefix + name
      if (!prefix && sections.has(name) && raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
        visit(raw as Record<string, unknown>, name + '.')
        continue
      }
      const spec = byKey.get(key)
      if (!spec || key === 'config') {
        throw new ConfigError(`${file}: unknown key "${key}"; run "swallow start --help" for the settings (file keys are camelCase, e.g. "mqttPort")`)
      }
      out.set(key, parseOptionValue(spec, raw, `${file}: key "${key}"`))
    }
  }
  visit(json as Record<string, unknown>, '')
  return out
}
