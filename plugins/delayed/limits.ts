// Which `$delayed/<seconds>/<topic>` PUBLISHes are taken: whole seconds up to --delayed-max,
// onto a topic that is not empty and not a `$` topic. The refusal reasons are the
// swallow_delayed_refused_total labels; MQTT 5 publishers get the reason code.
export type RefusalReason = 'malformed' | 'too_long' | 'pending_full'

export const REFUSAL_CODE: Record<RefusalReason, number> = {
  malformed: 0x83, // Implementation specific error
  too_long: 0x83,
  pending_full: 0x97 // Quota exceeded
}

export type DelayCheck = { ok: true, delayMs: number } | { ok: false, reason: RefusalReason, problem: string }

export function checkDelay (seconds: string, topic: string, maxMs: number): DelayCheck {
  if (!/^\d{1,10}$/.test(seconds)) return { ok: false, reason: 'malformed', problem: 'the delay is not a whole number of seconds ($delayed/<seconds>/<topic>)' }
  if (topic === '') return { ok: false, reason: 'malformed', problem: 'no topic after the delay ($delayed/<seconds>/<topic>)' }
  if (topic.startsWith('$')) return { ok: false, reason: 'malformed', problem: 'a delayed message cannot go to a $ topic' }
  const delayMs = Number(seconds) * 1000
  if (delayMs > maxMs) return { ok: false, reason: 'too_long', problem: `the delay is longer than --delayed-max (${maxMs / 1000} s)` }
  return { ok: true, delayMs }
}
