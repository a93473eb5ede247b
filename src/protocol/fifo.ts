/** A queue whose shift() does not move the rest (Array.shift is O(n) on a 1,000-deep queue). */
export class Fifo<T> {
  // Shared while empty: an idle connection's two queues keep no array of their own.
  private items: Array<T | undefined> = EMPTY
  private head = 0

  get length (): number { return this.items.length - this.head }

  push (item: T): void {
    if (this.items === EMPTY) this.items = [item]
    else this.items.push(item)
  }

  shift (): T | undefined {
    if (this.head >= this.items.length) return undefined
    const item = this.items[this.head]
    this.items[this.head++] = undefined
    if (this.head === this.items.length) {
      this.items = EMPTY
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }

  /** The next item, left in the queue. */
  peek (): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined
  }

  /** Empties the queue, returning what it held. */
  drain (): T[] {
    const rest = this.items.slice(this.head) as T[]
    this.items = EMPTY
    this.head = 0
    return rest
  }
}

const EMPTY: never[] = Object.freeze([]) as never[]
