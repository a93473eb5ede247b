// Keep alive for every connection on one shared timer (MQTT-3.1.2-24: a client silent for
// one and a half times its keep alive is disconnected), instead of a setTimeout per client
// refreshed on every packet. A connection only records when it last heard from its client
// (one number); the wheel visits it once per keep alive period, so the message path costs
// nothing.

export interface KeptAlive {
  /** Date.now() of the last packet received. */
  lastPacketAt: number
  /** Milliseconds of silence allowed (1.5 x keep alive), 0 = off. */
  keepaliveMs: number
  closed: boolean
  keepaliveExpired: () => void
}

const TICK_MS = 1000

export class KeepaliveWheel {
  /** Connections due for a look, by the tick at which to look. */
  private readonly slots = new Map<number, Set<KeptAlive>>()
  private timer: NodeJS.Timeout | null = null
  /** The next tick to visit. */
  private tick = 0

  watch (conn: KeptAlive): void {
    if (conn.keepaliveMs <= 0) return
    if (this.timer === null) {
      this.tick = Math.floor(Date.now() / TICK_MS)
      this.timer = setInterval(() => this.turn(), TICK_MS)
      this.timer.unref()
    }
    this.schedule(conn, conn.lastPacketAt + conn.keepaliveMs)
  }

  private schedule (conn: KeptAlive, deadline: number): void {
    // The tick after the deadline: a client is never cut off early.
    const at = Math.max(Math.floor(deadline / TICK_MS) + 1, this.tick + 1)
    let slot = this.slots.get(at)
    if (slot === undefined) this.slots.set(at, slot = new Set())
    slot.add(conn)
  }

  private turn (): void {
    const now = Date.now()
    const upTo = Math.floor(now / TICK_MS)
    for (; this.tick <= upTo; this.tick++) {
      const slot = this.slots.get(this.tick)
      if (slot === undefined) continue
      this.slots.delete(this.tick)
      for (const conn of slot) {
        if (conn.closed || conn.keepaliveMs <= 0) continue
        const deadline = conn.lastPacketAt + conn.keepaliveMs
        if (deadline <= now) conn.keepaliveExpired()
        else this.schedule(conn, deadline)
      }
    }
    if (this.slots.size === 0 && this.timer !== null) {
      clearInterval(this.timer)
      this.timer = null
    }
  }
}
