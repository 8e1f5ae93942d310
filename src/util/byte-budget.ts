/**
 * A process-wide cap on the request bytes (values of sets) the proxy holds between reading them from a
 * client and the server's answer. Past the cap, sessions stop reading until enough is released: a
 * client pipelining large values faster than the servers take them (or to a server that stopped
 * answering) then waits in its own socket buffers instead of in the proxy's memory.
 */
export class ByteBudget {
  readonly limit: number;
  private held = 0;
  private readonly waiters = new Set<() => void>();

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes currently held. */
  get bytes(): number {
    return this.held;
  }

  get exhausted(): boolean {
    return this.held >= this.limit;
  }

  take(n: number): void {
    this.held += n;
  }

  /** Releases `n` bytes; below half the cap, wakes whoever waits (hysteresis, so readers resume in bulk). */
  give(n: number): void {
    this.held -= n;
    if (this.waiters.size > 0 && this.held <= this.limit / 2) {
      const waiting = [...this.waiters];
      this.waiters.clear();
      for (const wake of waiting) wake();
    }
  }

  /** Calls `wake` once the budget has room again. */
  whenRelieved(wake: () => void): void {
    this.waiters.add(wake);
  }

  forget(wake: () => void): void {
    this.waiters.delete(wake);
  }
}

/** The proxy's budget: 64 MiB of request values in flight across every client. */
export const REQUEST_BYTES_LIMIT = 64 * 1024 * 1024;
export const requestBytes = new ByteBudget(REQUEST_BYTES_LIMIT);
