// Signs of life per device: when a message of it last arrived, and its usual interval (the
// median of the last gaps), so that a device silent for STALE_INTERVALS intervals is stale.
export const STALE_INTERVALS = 3
const GAPS_KEPT = 5

export function createActivity () {
  const byId = new Map() // id -> { last, gaps: number[] }

  function seen (id, time) {
    const a = byId.get(id)
    if (!a) return byId.set(id, { last: time, gaps: [] })
    if (time > a.last) {
      a.gaps.push(time - a.last)
      if (a.gaps.length > GAPS_KEPT) a.gaps.shift()
      a.last = time
    }
  }

  /** The usual interval, once there are two gaps to go by. */
  function interval (id) {
    const a = byId.get(id)
    if (!a || a.gaps.length < 2) return null
    const sorted = [...a.gaps].sort((x, y) => x - y)
    return sorted[Math.floor(sorted.length / 2)]
  }

  function isStale (id, now) {
    const a = byId.get(id)
    const usual = interval(id)
    return a !== undefined && usual !== null && now - a.last > STALE_INTERVALS * usual
  }

  function describe (id, now, stale) {
    const a = byId.get(id)
    if (!a) return ''
    const ago = Math.max(0, Math.round((now - a.last) / 1000))
    const when = ago < 1 ? 'just now' : ago < 120 ? `${ago} s ago` : ago < 7200 ? `${Math.round(ago / 60)} min ago` : `${Math.round(ago / 3600)} h ago`
    return `${stale ? 'stale: ' : ''}seen ${when}`
  }

  return {
    seen,
    isStale,
    describe,
    has: id => byId.has(id),
    size: () => byId.size,
    clear: () => byId.clear()
  }
}
