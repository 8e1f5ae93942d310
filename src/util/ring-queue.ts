/**
 * A FIFO for hot paths (in-flight requests per connection, replies per client): a growable ring buffer,
 * so push and shift are O(1) without Array.prototype.shift's copying on long queues.
 *
 *   [ . . h x x x x t . . ]   h = head (oldest), t = next free slot; grows by doubling when full
 */
export class RingQueue<T> {
  private items: Array<T | undefined>;
  private head = 0;
  private count = 0;

  constructor(capacity = 16) {
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) % this.items.length] = item;
    this.count++;
  }

  /** The oldest item, or undefined when empty. */
  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  /** The item `i` places after the oldest. */
  at(i: number): T | undefined {
    return i < this.count ? this.items[(this.head + i) % this.items.length] : undefined;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.count--;
    return item;
  }

  /** Removes and returns everything, oldest first. */
  drain(): T[] {
    const out: T[] = [];
    for (let item = this.shift(); item !== undefined; item = this.shift()) out.push(item);
    return out;
  }

  private grow(): void {
    const bigger = new Array<T | undefined>(this.items.length * 2);
    for (let i = 0; i < this.count; i++) bigger[i] = this.items[(this.head + i) % this.items.length];
    this.items = bigger;
    this.head = 0;
  }
}
