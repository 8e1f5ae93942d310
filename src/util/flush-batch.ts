/**
 * Things to flush once per tick (sessions with replies, connections with requests), each at most once.
 * An array and a flag on each item rather than a Set: a Set's clear() allocates a new table, once per
 * tick on the hot path.
 */
export interface Flushable {
  flush(): void;
  /** Set while the item waits in a batch; only FlushBatch touches it. */
  flushQueued: boolean;
}

export class FlushBatch<T extends Flushable> {
  private readonly schedule: (run: () => void) => void;
  private items: T[] = [];
  /** The other array: items are added to one while the other is flushed. */
  private spare: T[] = [];
  private scheduled = false;

  /** `schedule` runs the flush later: process.nextTick, or setImmediate to gather a whole turn. */
  constructor(schedule: (run: () => void) => void) {
    this.schedule = schedule;
  }

  add(item: T): void {
    if (item.flushQueued) return;
    item.flushQueued = true;
    this.items.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(this.run);
  }

  private readonly run = (): void => {
    this.scheduled = false;
    // what a flush adds (itself included) goes to the other array and the next run
    const items = this.items;
    this.items = this.spare;
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      item.flushQueued = false;
      item.flush();
    }
    items.length = 0;
    this.spare = items;
  };
}
