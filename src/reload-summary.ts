// Every reload (SIGHUP, or a plugin's files changing on disk) logs one line saying what each
// part did: `reloaded (SIGHUP): tls unchanged, passwords unchanged, acl reloaded (12 rules)`.
// Also when nothing changed, and when a file that was broken is good again.
import type { Logger } from './logger.js'

/** repaired: good again after a reload that failed (its contents may equal the ones in force). */
export type ReloadOutcome = 'unchanged' | 'reloaded' | 'repaired' | 'failed'

export interface ReloadPart {
  /** As the line names it: tls, passwords, acl, jwt-key. */
  name: string
  outcome: ReloadOutcome
  /** What is in force after a reload or repair, e.g. "12 rules". */
  size?: string
  /** With 'failed': what is wrong, where (file:line). The previous contents stay in force. */
  problem?: string
}

export function reloadLine (trigger: string, parts: readonly ReloadPart[]): string {
  if (parts.length === 0) return `reloaded (${trigger}): nothing to reload (no TLS certificates or auth files configured)`
  return `reloaded (${trigger}): ${parts.map(partText).join(', ')}`
}

function partText (p: ReloadPart): string {
  if (p.outcome === 'failed') return `${p.name} failed, the previous one stays in force (${p.problem ?? 'unknown problem'})`
  if (p.outcome === 'unchanged' || p.size === undefined) return `${p.name} ${p.outcome}`
  return `${p.name} ${p.outcome} (${p.size})`
}

/** The one line: info, or warn when a part failed (its problem is in the line and in `problems`). */
export function logReload (log: Logger, trigger: string, parts: readonly ReloadPart[]): void {
  const outcomes = Object.fromEntries(parts.map(p => [p.name, p.outcome]))
  const problems = parts.filter(p => p.outcome === 'failed').map(p => p.problem)
  if (problems.length > 0) log.warn({ trigger, outcomes, problems }, reloadLine(trigger, parts))
  else log.info({ trigger, outcomes }, reloadLine(trigger, parts))
}
