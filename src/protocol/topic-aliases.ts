// Outbound topic aliases (MQTT 5 3.3.2.3.4): to a client that allows them (a Topic Alias
// Maximum in its CONNECT), the broker names each of the first topics it sends with an alias
// (the topic and the alias once, then the alias and an empty topic). The first topics keep
// their aliases for the whole connection: device fleets repeat a few topics, and replacing
// an alias costs a full topic again. A new connection starts without aliases (MQTT-3.3.2-7).

/** Aliases the broker assigns per connection at most, whatever larger maximum a client allows. */
export const OUTBOUND_ALIAS_LIMIT = 100

export class OutboundAliases {
  private readonly aliases = new Map<string, number>()
  /** A topic whose alias is in the packet being written, kept once the packet goes out. */
  private offered: string | null = null
  private readonly maximum: number

  constructor (clientMaximum: number) {
    this.maximum = Math.min(clientMaximum, OUTBOUND_ALIAS_LIMIT)
  }

  /** The alias to send with this topic (0: none); `known` when the client has it already. */
  aliasFor (topic: string): { alias: number, known: boolean } {
    const alias = this.aliases.get(topic)
    if (alias !== undefined) return { alias, known: true }
    if (this.aliases.size >= this.maximum || topic.length === 0) return { alias: 0, known: false }
    this.offered = topic
    return { alias: this.aliases.size + 1, known: false }
  }

  /** The packet aliasFor was asked for was written: the client now knows its alias. */
  written (): void {
    if (this.offered === null) return
    this.aliases.set(this.offered, this.aliases.size + 1)
    this.offered = null
  }

  /** The packet was not written (too large for the client): its alias stays free. */
  dropped (): void {
    this.offered = null
  }
}
