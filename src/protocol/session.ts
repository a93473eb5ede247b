// What a session is beyond one connection, read from and written to the persistence:
// its subscriptions, its stored queue of messages, its will.
//
// A session is stored ("persistent") when it outlives the connection: MQTT 3.1.1
// CleanSession=0, MQTT 5 Session Expiry Interval > 0. Its subscriptions are stored at
// SUBSCRIBE, and the publish route (route.ts) stores each QoS 1/2 message for it before routing, so what
// was acknowledged to a publisher is in its queue even if the broker dies before delivery.
import { isNoSuchPacket, registeredClient } from '../aedes-seam.js'
import { expiryMarker, isDisconnectMarker, isReservedTopic, isSessionMarker, markedDeadline, offlineMarker, SESSION_MARKER, SESSION_MARKER_TOPIC } from '../session-marker.js'
import type { Connection, WillMessage } from './connection.js'
import { bestMatch, outgoingPublish } from './deliver.js'
import { messageKey } from './spilled-queue.js'
import type { Core } from './core.js'
import { deleteStoredQueue, ownPacketId } from './stored-queue.js'
import { isSharedFilter } from './topic-rules.js'
import type { OutgoingPublish, QoS, RoutedPacket, Subscription } from './types.js'

type StoredMessage = Omit<RoutedPacket, 'cmd'>

/**
 * Restores a stored session's subscriptions as live ones; true if the session existed. A
 * session whose expiry deadline passed (here or on another node) is deleted instead, and
 * reads as absent (MQTT-3.1.2-23). A persistent session gets its marker
 * (src/session-marker.ts) if it has none yet; a restored one loses its deadline and the
 * time it went offline.
 */
export async function restoreSession (conn: Connection): Promise<boolean> {
  const { core } = conn
  const stored = await conn.persistence.subscriptionsByClient(conn)
  const deadline = lastDeadline(stored)
  if (deadline !== null && deadline <= Date.now()) {
    await deleteStoredSession(core, conn)
    core.metrics.sessionsExpired.inc()
    return false
  }
  const disconnectMarkers = stored.filter(isDisconnectMarker).map(sub => sub.topic)
  if (disconnectMarkers.length > 0) await conn.persistence.removeSubscriptions(conn, disconnectMarkers)
  // Markers alone are no session: a disconnect's marker write that landed after a clean
  // start deleted the session (on another node, which this node cannot wait for).
  if (disconnectMarkers.length === stored.length) return false
  // Before its subscriptions route again: live messages then wait in the stored queue behind the older ones.
  if (stored.length > 0) conn.outbound.followStoredQueue()
  let marked = false
  const live: Array<Promise<void>> = []
  for (const sub of stored) {
    if (isSessionMarker(sub)) marked = true
    if (isReservedTopic(sub.topic)) continue
    const { clientId: _, ...subscription } = sub
    conn.setSubscription(subscription)
    live.push(routeTo(conn, subscription))
  }
  await Promise.all(live)
  if (!marked && !conn.clean && stored.length > 0) await markSession(conn)
  return stored.length > 0
}

/** Records that this persistent session exists, even with nothing in it yet. */
export async function markSession (conn: Connection): Promise<void> {
  await conn.persistence.addSubscriptions(conn, [SESSION_MARKER])
}

/** Registers the connection's listener for one subscription with the router (a shared one: joins its group). */
export function routeTo (conn: Connection, sub: Subscription): Promise<void> {
  if (isSharedFilter(sub.topic)) return conn.core.shared.join(conn, sub)
  return new Promise((resolve, reject) => {
    conn.core.broker.subscribe(sub.topic, conn.deliver as never, (err?: Error | null) => err ? reject(err) : resolve())
  })
}

/**
 * The router stops sending this filter's messages to the connection (a shared one: it
 * leaves its group; `sessionStays`: the connection closed and its session is kept, so it
 * stays an offline member).
 */
export function unrouteFrom (conn: Connection, filter: string, sessionStays = false): void {
  if (isSharedFilter(filter)) return conn.core.shared.leave(conn, filter, sessionStays)
  conn.core.broker.unsubscribe(filter, conn.deliver as never, noop)
}

/**
 * Deletes what an earlier session of this client id stored (MQTT-3.1.2-6, MQTT 5 Clean
 * Start): subscriptions, QoS 2 state, and the queue (dropped, not sent).
 */
export async function deleteStoredSession (core: Core, client: { id: string }): Promise<void> {
  core.shared.forgetSession(client.id)
  if (core.storedSessions !== null && !core.storedSessions.hasState(client.id)) return
  await core.persistence.cleanSubscriptions(client)
  await core.persistence.cleanIncoming?.(client)
  await deleteStoredQueue(core.persistence, client)
}

/**
 * Sends a restored session's stored queue: first what was in flight, again, with the same
 * packet ids and DUP set (MQTT-4.4.0-1), PUBRELs as PUBRELs; then the outbound side reads
 * the queued messages from storage as the window allows (readUnsent), with the live ones
 * that arrived meanwhile in their place, except those whose Message Expiry Interval passed
 * (MQTT-3.3.2-5).
 */
export async function replayStoredQueue (conn: Connection): Promise<void> {
  for await (const stored of conn.persistence.outgoingStream(conn)) {
    if (conn.closed) return
    const sentAs = ownPacketId(stored, conn.id)
    if (stored.cmd === 'pubrel' && sentAs !== undefined) {
      // A stored PUBREL is its packet id only (no topic to match): the message was delivered.
      // Recorded again first, as a resent message below.
      await recordAgain(conn, { cmd: 'pubrel', messageId: sentAs, brokerId: stored.brokerId, brokerCounter: stored.brokerCounter })
      conn.outbound.resend({ cmd: 'publish', topic: '', payload: Buffer.alloc(0), qos: 2, retain: false, dup: false, messageId: sentAs }, true)
      continue
    }
    if (sentAs !== undefined) {
      // Its delivery started: sent again even if it expired since (MQTT-4.3.3-7). Its packet
      // id recorded again first: aedes-persistence-redis finds a record to clear by an
      // in-memory map of packet ids, empty after a restart, and would keep it for good.
      await recordAgain(conn, { ...stored, messageId: sentAs, sentTo: conn.id })
      conn.outbound.resend({ ...publishOf(conn, stored), dup: true, messageId: sentAs }, false)
    }
  }
  conn.outbound.storedQueueResent()
}

/** Writes a stored record's packet id again; one cleared meanwhile ('no such packet') is sent all the same. */
async function recordAgain (conn: Connection, packet: object): Promise<void> {
  await conn.persistence.outgoingUpdate(conn, packet).catch(err => { if (!isNoSuchPacket(err)) throw err })
}

/**
 * The next part of a spilled stored queue (outbound.ts, --queue-full-policy isolate): up to
 * `limit` messages never sent, oldest first, except those `skip` names (in flight).
 */
export async function readUnsent (conn: Connection, limit: number, skip: ReadonlySet<string>, spareId: () => number): Promise<OutgoingPublish[]> {
  const found: OutgoingPublish[] = []
  const now = Date.now()
  for await (const stored of conn.persistence.outgoingStream(conn)) {
    if (stored.cmd !== 'publish' || ownPacketId(stored, conn.id) !== undefined || skip.has(messageKey(stored))) continue
    if (isExpired(stored, now)) {
      await discardExpired(conn, stored, spareId())
      continue
    }
    found.push(publishOf(conn, stored))
    if (found.length === limit) break
  }
  return found
}

const isExpired = (stored: StoredMessage, now: number): boolean => typeof stored.messageExpiry === 'number' && stored.messageExpiry <= now

/** Deletes a stored message whose Message Expiry Interval passed before it was sent (MQTT-3.3.2-5): it gets a spare packet id, then loses it. */
async function discardExpired (conn: Connection, stored: StoredMessage, spareId: number): Promise<void> {
  await conn.persistence.outgoingUpdate(conn, { ...stored, messageId: spareId, sentTo: conn.id })
  await conn.persistence.outgoingClearMessageId(conn, { messageId: spareId })
  conn.core.metrics.dropped.inc({ reason: 'expired' })
}

/** A stored message as this connection gets it now: its best matching subscription's QoS (at least 1: it was queued as QoS 1/2) and identifiers. */
function publishOf (conn: Connection, stored: StoredMessage): OutgoingPublish {
  const match = bestMatch(conn.subscriptionList, stored, false)
  const qos = Math.max(1, Math.min(stored.qos, match?.qos ?? stored.qos)) as QoS
  return outgoingPublish(conn, stored, qos, false, match?.identifiers ?? null)
}

/** Stores the will of a new connection (an earlier one of this id is replaced). */
export async function storeWill (core: Core, conn: Connection): Promise<void> {
  if (core.storedSessions === null || core.storedSessions.hasWill(conn.id)) {
    await core.persistence.delWill(willKey(core, conn.id)).catch(err =>
      conn.storageFailed('delWill', err, 'an earlier connection\'s will stays stored unless this one has a will, and a broker that restarts after a crash publishes it'))
  }
  if (conn.will !== null) await core.persistence.putWill(conn, { ...conn.will })
}

const willKey = (core: Core, id: string): { id: string, brokerId: string } => ({ id, brokerId: core.broker.id })

/**
 * A connection ended. Its will is published unless it disconnected normally (after the
 * MQTT 5 Will Delay Interval, cancelled if the client id connects again first), and a
 * session that ends with its connection has its stored state deleted.
 */
export function endSession (conn: Connection, wasConnected: boolean): void {
  const { core } = conn
  if (!wasConnected) return
  const will = conn.will
  conn.will = null
  if (will !== null) {
    if (conn.disconnected) {
      core.persistence.delWill(willKey(core, conn.id)).catch(err =>
        conn.storageFailed('delWill', err, 'the will of this normal disconnect stays stored and a broker that restarts after a crash publishes it'))
    }
    else publishWill(core, conn, will)
  }
  // Taken over: the session goes on with the new connection of this client id.
  if (conn.clean || conn.takenOver) return
  if (conn.sessionExpiry === 0) {
    deleteStoredSession(core, conn).catch(err => core.log.warn({ err, clientId: conn.id }, 'could not delete an ended session'))
  } else {
    storeOffline(core, conn.id, Date.now(), conn.sessionExpiry === NEVER_EXPIRES ? null : conn.sessionExpiry * 1000)
  }
}

/** MQTT 5's Session Expiry Interval for "never" (MQTT 3.1.1 persistent sessions without --max-session-expiry). */
export const NEVER_EXPIRES = 0xffffffff

/**
 * A session that outlives its connection: when it went offline is stored with it (the fleet
 * API's session age), in one write with, for a finite expiry (`expiryMs`), its deadline (read
 * by whichever node sees the next CONNECT, see restoreSession); this node deletes it when
 * the deadline passes, unless the client came back meanwhile (here, or on another node: then
 * the stored deadline is gone or later).
 */
function storeOffline (core: Core, clientId: string, now: number, expiryMs: number | null): void {
  const deadline = expiryMs === null ? null : now + expiryMs
  const write = core.persistence.addSubscriptions({ id: clientId }, deadline === null ? [offlineMarker(now)] : [offlineMarker(now), expiryMarker(deadline)])
    .catch(err => core.log.warn({ err, clientId }, deadline === null
      ? 'could not store when a session went offline'
      : 'could not store a session\'s expiry deadline; it stays until the client connects again'))
    .finally(() => { if (core.offlineWrites.get(clientId) === write) core.offlineWrites.delete(clientId) })
  // A CONNECT of this id right after the disconnect waits for it (awaitOfflineWrite): a clean
  // start's deletion that ran first would leave the markers behind as a session.
  core.offlineWrites.set(clientId, write)
  if (deadline !== null) armExpiryTimer(core, clientId, deadline)
}

/** Resolves once the markers a disconnect of this id on this node began to store are stored (or failed). */
export function awaitOfflineWrite (core: Core, clientId: string): Promise<void> | undefined {
  return core.offlineWrites.get(clientId)
}

function armExpiryTimer (core: Core, clientId: string, deadline: number): void {
  cancelExpiry(core, clientId)
  // Node's timers hold at most 2^31-1 ms (24.8 days): a longer session is checked again then.
  const timer = setTimeout(() => { expireIfDue(core, clientId).catch(err => core.log.warn({ err, clientId }, 'could not delete an expired session')) },
    Math.min(deadline - Date.now(), MAX_TIMER_MS))
  timer.unref()
  core.expiringSessions.set(clientId, timer)
}

const MAX_TIMER_MS = 2 ** 31 - 1

/** The client id connects again: this node's deletion timer stops (the CONNECT decides from the stored deadline). */
export function cancelExpiry (core: Core, clientId: string): void {
  const timer = core.expiringSessions.get(clientId)
  if (timer === undefined) return
  clearTimeout(timer)
  core.expiringSessions.delete(clientId)
}

async function expireIfDue (core: Core, clientId: string): Promise<void> {
  core.expiringSessions.delete(clientId)
  const client = { id: clientId }
  const deadline = lastDeadline(await core.persistence.subscriptionsByClient(client))
  if (deadline === null || registeredClient(core.broker, clientId) !== undefined) return // back, here or elsewhere
  if (deadline > Date.now()) return armExpiryTimer(core, clientId, deadline)
  await deleteStoredSession(core, client)
  core.metrics.sessionsExpired.inc()
  core.log.info({ clientId }, 'session expired: its subscriptions and queued messages are deleted')
}

/**
 * Gives every stored session with a deadline a deletion timer on this node, or deletes it
 * now if the deadline passed: at start (the timers of the run before died with it: kill -9,
 * a restart) and then, in a cluster (`intervalMs`), every --session-sweep-interval, for the
 * sessions that ended on a node that died since. Every persistent session has the marker,
 * so the persistence's subscription index lists them. Returns a function that stops it.
 */
export function sweepExpiredSessions (core: Core, intervalMs: number | null): () => void {
  let stopped = false
  const sweep = async (): Promise<void> => {
    for (const { clientId } of await core.persistence.subscriptionsByTopic(SESSION_MARKER_TOPIC)) {
      if (stopped) return
      // One at a time: a sweep over many sessions must not crowd the storage out.
      if (clientId !== undefined && !core.expiringSessions.has(clientId) && registeredClient(core.broker, clientId) === undefined) await expireIfDue(core, clientId)
    }
  }
  const run = (): void => { sweep().catch(err => core.log.warn({ err }, 'the sweep for expired sessions failed; it runs again later')) }
  run()
  const timer = intervalMs === null ? null : setInterval(run, intervalMs)
  timer?.unref()
  return () => {
    stopped = true
    if (timer !== null) clearInterval(timer)
  }
}

/** The expiry deadline a stored session holds: the last disconnect's (the latest), or null. */
function lastDeadline (stored: ReadonlyArray<{ topic: string }>): number | null {
  let last: number | null = null
  for (const sub of stored) {
    const deadline = markedDeadline(sub)
    if (deadline !== null && (last === null || deadline > last)) last = deadline
  }
  return last
}

/** Authorized now, while the client's permissions are known; published now or after its delay. */
function publishWill (core: Core, conn: Connection, will: WillMessage): void {
  const { delay, ...packet } = will
  const clientId = conn.id
  const done = (): void => {
    core.persistence.delWill(willKey(core, clientId)).catch(err => core.log.warn({ clientId, operation: 'delWill', error: err instanceof Error ? err.message : String(err) },
      'storage error in delWill: the will was published and stays stored; a broker that restarts after a crash publishes it again'))
  }
  core.hooks.authorizePublish(conn.asClient, packet, err => {
    if (err || core.isDropped(packet)) return done()
    const seconds = Math.min(delay, conn.sessionExpiry)
    if (seconds <= 0) return core.route.publish(packet, conn.asClient, done)
    endDelayedWill(core, clientId, false)
    const publish = (): void => {
      core.delayedWills.delete(clientId)
      core.route.publish(packet, null, done)
    }
    const timer = setTimeout(publish, seconds * 1000)
    timer.unref()
    core.delayedWills.set(clientId, { timer, publish })
  })
}

/**
 * A CONNECT of this client id while its will waits for the delay: the will is published now
 * if the new connection starts a new session (Clean Start 1), else it is not published at
 * all (MQTT 5 section 3.1.3.2.2).
 */
export function endDelayedWill (core: Core, clientId: string, publishNow: boolean): void {
  const pending = core.delayedWills.get(clientId)
  if (pending === undefined) return
  clearTimeout(pending.timer)
  core.delayedWills.delete(clientId)
  if (publishNow) pending.publish()
}

export type { Subscription }

function noop (): void {}
