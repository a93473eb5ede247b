// How many subscriptions of this node's connections could match a $SYS topic (MQTT-4.7.2-1:
// only a filter that names `$SYS` at its start, plain or inside `$share/<group>/`, does). A
// plugin asks before it builds a $SYS message nobody here would get: the fleet plugin's
// presence message on every connect and disconnect cost ~7% of the broker's busy time in a
// connect burst (bench/README.md).
export class SysListeners {
  private count = 0

  /** A connection holds a new subscription. */
  added (filter: string): void {
    if (mayMatchSys(filter)) this.count++
  }

  /** A connection dropped a subscription (unsubscribed, or closed). */
  removed (filter: string): void {
    if (mayMatchSys(filter)) this.count--
  }

  /** Some connection on this node subscribes to a filter that may match $SYS topics. */
  get any (): boolean {
    return this.count > 0
  }
}

// Generous on purpose: a filter that only looks as if it could match costs a message built in vain.
const mayMatchSys = (filter: string): boolean => filter.includes('$SYS')
