/**
 * One interval that checks every registered deadline holder, instead of a setTimeout per request
 * (thousands of in-flight requests would each own a timer). Precision is the tick, chosen from the
 * shortest timeout in use: a request times out between its deadline and one tick later.
 */
export interface DeadlineHolder {
  /** Called every tick with the current time (ms, monotonic). */
  checkDeadlines(now: number): void;
}

export class CoarseTimer {
  private readonly holders = new Set<DeadlineHolder>();
  private handle: NodeJS.Timeout | null = null;
  readonly tickMs: number;

  constructor(tickMs: number) {
    this.tickMs = tickMs;
  }

  /** A tick short enough for `shortestTimeoutMs`, within [5, 100] ms. */
  static tickFor(shortestTimeoutMs: number): number {
    return Math.max(5, Math.min(100, Math.floor(shortestTimeoutMs / 5)));
  }

  add(holder: DeadlineHolder): void {
    this.holders.add(holder);
    if (this.handle === null) {
      this.handle = setInterval(() => {
        this.tick();
      }, this.tickMs);
      this.handle.unref();
    }
  }

  delete(holder: DeadlineHolder): void {
    this.holders.delete(holder);
  }

  private tick(): void {
    const now = performance.now();
    for (const holder of this.holders) holder.checkDeadlines(now);
  }

  stop(): void {
    if (this.handle !== null) clearInterval(this.handle);
    this.handle = null;
    this.holders.clear();
  }
}
