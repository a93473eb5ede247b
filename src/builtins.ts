// The built-in plugins, in hook order: a plugin listed earlier runs its hooks first
// (auth before retained before bridge: a message is authorized, then stored, then mirrored;
// delayed right after auth: a $delayed/ message is authorized on its inner topic, stored and
// deferred there, and meets retained and bridge only when it is published).
// fleet comes first: a banned client is refused before its password is checked.
// The one file of src/ that imports plugins/.
import type { Plugin } from './plugin.js'
import type { OptionSpec } from './options.js'
import { authPlugin } from '../plugins/auth/index.js'
import { delayedPlugin } from '../plugins/delayed/index.js'
import { fleetPlugin } from '../plugins/fleet/index.js'
import { retainedPlugin } from '../plugins/retained/index.js'
import { bridgePlugin } from '../plugins/bridge/index.js'
import { sysPlugin } from '../plugins/sys/index.js'
import { webPlugin } from '../devices/web/plugin.js'

export const builtinPlugins: readonly Plugin[] = [
  fleetPlugin,
  authPlugin,
  delayedPlugin,
  retainedPlugin,
  bridgePlugin,
  sysPlugin,
  webPlugin
]

export const pluginOptions: readonly OptionSpec[] = builtinPlugins.flatMap(p => p.options ?? [])

/** A `swallow <name>` subcommand that lives in a plugin's or devices/ folder; loaded only when run. */
export interface ExternalCommand {
  summary: string
  /** Runs the command with the arguments after its name; resolves the process exit code. */
  load: () => Promise<{ run: (args: string[]) => Promise<number> }>
}

export const builtinCommands: Record<string, ExternalCommand> = {
  passwd: { summary: 'manage a Mosquitto-compatible password file', load: () => import('../plugins/auth/passwd-cli.js') },
  log: { summary: 'read the log bridge streams', load: () => import('../plugins/bridge/cli.js') },
  delayed: { summary: 'list or cancel the delayed messages ($delayed/...) of a running broker', load: () => import('../plugins/delayed/cli.js') },
  retained: { summary: 'list, show or clear the retained messages of a running broker', load: () => import('../plugins/retained/cli.js') },
  ctl: { summary: 'operate a running broker or cluster: clients, sessions, subscriptions, bans, publish, reload', load: () => import('../plugins/fleet/ctl.js') },
  simulate: { summary: 'run a fleet of virtual devices against an MQTT broker', load: () => import('../devices/simulator/cli.js') },
}
