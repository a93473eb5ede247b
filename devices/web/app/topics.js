// MQTT topic names and filters: validation and matching, as the broker does them.

/** Returns an error message for an invalid topic name (for PUBLISH), or null. */
export function topicError (topic) {
  if (topic === '') return 'Enter a topic.'
  if (/[+#]/.test(topic)) return 'A topic to publish to cannot contain + or # (those are for subscribing).'
  if (topic.includes('\u0000')) return 'A topic cannot contain the NUL character.'
  return null
}

/** Returns an error message for an invalid topic filter (for SUBSCRIBE), or null. */
export function filterError (filter) {
  if (filter === '') return 'Enter a topic filter, e.g. devices/# or devices/+/status.'
  const levels = filter.split('/')
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) {
      return '# must be a whole level and the last one, e.g. devices/#.'
    }
    if (level.includes('+') && level !== '+') return '+ must be a whole level, e.g. devices/+/status.'
  }
  return null
}

/** Whether `topic` matches `filter` (topics starting with $ match only filters that name them). */
export function matches (filter, topic) {
  const f = filter.split('/')
  const t = topic.split('/')
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true
    if (i >= t.length) return false
    if (f[i] !== '+' && f[i] !== t[i]) return false
  }
  return f.length === t.length
}

/** Whether every topic that matches `inner` also matches `outer`. */
export function covers (outer, inner) {
  const o = outer.split('/')
  const n = inner.split('/')
  if (inner.startsWith('$') && (o[0] === '+' || o[0] === '#')) return false
  for (let i = 0; i < o.length; i++) {
    if (o[i] === '#') return true
    if (i >= n.length || n[i] === '#') return false
    if (o[i] === '+') continue
    if (o[i] !== n[i]) return false
  }
  return o.length === n.length
}
