// `swallow simulate`: parses the flags, runs the fleet, prints the summary and maps
// outcomes to exit codes (0 done, 1 broker problem, 2 bad flags, 3 --verify found loss).
import { runFleet } from './fleet.js'
import { helpText, parseOptions, UsageError, wantsHelp } from './options.js'
import { FleetError } from './probe.js'
import { formatSummary } from './progress.js'

export const EXIT_LOSS = 3

export async function run (args: string[]): Promise<number> {
  if (wantsHelp(args)) {
    process.stdout.write(helpText())
    return 0
  }
  const controller = new AbortController()
  let interrupts = 0
  // First Ctrl-C: stop, drain and summarize. Second: give up at once.
  const onSignal = (): void => {
    if (++interrupts > 1) process.exit(130)
    process.stderr.write('\nsimulate: stopping (Ctrl-C again to quit at once)\n')
    controller.abort()
  }
  try {
    const opts = parseOptions(args)
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    const summary = await runFleet(opts, {
      progress: opts.json ? process.stderr : process.stdout,
      errors: process.stderr,
      signal: controller.signal
    })
    process.stdout.write(opts.json ? JSON.stringify(summary) + '\n' : formatSummary(summary))
    if (summary.verify && summary.verify.lost > 0) return EXIT_LOSS
    if (summary.connectedPeak === 0) {
      process.stderr.write('simulate: no device could connect\n')
      return 1
    }
    return 0
  } catch (err) {
    if (err instanceof UsageError || err instanceof FleetError) {
      process.stderr.write(`swallow simulate: ${err.message}\n`)
      return err.exitCode
    }
    throw err // a bug: the main CLI prints it with its stack
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
