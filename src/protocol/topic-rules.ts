// Topic names and filters a client may send (MQTT 3.1.1 section 4.7, MQTT 5 section 4.7).

const MAX_LEVELS = 100

/** A PUBLISH topic: not empty, no wildcards, no NUL (MQTT-3.3.2-2, MQTT-4.7.3-1, -2). */
export function validTopicName (topic: string): boolean {
  if (topic.length === 0) return false
  let levels = 1
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i)
    if (c === 35 || c === 43 || c === 0) return false // '#', '+', NUL
    if (c === 47 && ++levels > MAX_LEVELS) return false
  }
  return true
}

/** A SUBSCRIBE filter: '#' only as the last whole level, '+' only as a whole level (MQTT-4.7.1-1, -2). */
export function validTopicFilter (filter: string): boolean {
  if (filter.length === 0) return false
  const levels = filter.split('/')
  if (levels.length > MAX_LEVELS) return false
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]
    if (level.includes('\u0000')) return false
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return false
    if (level.includes('+') && level !== '+') return false
  }
  return true
}

/** A shared subscription's filter ($share/<group>/<filter>, shared-groups.ts). */
export const isSharedFilter = (filter: string): boolean => filter.startsWith('$share/')
