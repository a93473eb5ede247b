// The persistence's operations as a table of functions that layers wrap one over another
// (src/storage.ts builds it; src/session-index.ts and src/ordered-updates.ts wrap entries of
// it, plugins replace some with storage.replaceOperation).
export type AnyOperation = (...args: any[]) => any
export type Implementations = Record<string, AnyOperation>

/** Replaces `impl[op]`, when the persistence has that operation, with `make(the current one)`. */
export function wrapOperation (impl: Implementations, op: string, make: (stored: AnyOperation) => AnyOperation): void {
  const stored = impl[op]
  if (typeof stored === 'function') impl[op] = make(stored)
}
