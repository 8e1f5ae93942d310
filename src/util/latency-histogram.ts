/**
 * Response times counted into fixed buckets on the request path: a few comparisons and three additions
 * per request, no allocation (prom-client's observe() costs microseconds, too much for every request).
 * The buckets are Prometheus's `le` bounds, so the admin endpoint renders them as a histogram, and
 * counts of several -t N workers add up bucket by bucket.
 */

/** Upper bounds of the buckets in milliseconds (a last, unbounded bucket follows). */
export const LATENCY_BOUNDS_MS: readonly number[] = Object.freeze([
  0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
]);

/** Plain data for IPC and merging: per-bucket (not cumulative) counts, the last one unbounded. */
export interface LatencySnapshot {
  readonly counts: number[];
  /** Milliseconds. */
  readonly sum: number;
  readonly count: number;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(LATENCY_BOUNDS_MS.length + 1);
  private sum = 0;
  private count = 0;

  record(ms: number): void {
    const bounds = LATENCY_BOUNDS_MS;
    let i = 0;
    while (i < bounds.length && ms > bounds[i]) i++;
    this.counts[i]++;
    this.sum += ms;
    this.count++;
  }

  snapshot(): LatencySnapshot {
    return { counts: Array.from(this.counts), sum: this.sum, count: this.count };
  }
}

export function emptyLatency(): LatencySnapshot {
  return { counts: new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0), sum: 0, count: 0 };
}

/** a + b, bucket by bucket. */
export function addLatency(a: LatencySnapshot, b: LatencySnapshot): LatencySnapshot {
  return {
    counts: a.counts.map((n, i) => n + (b.counts[i] ?? 0)),
    sum: a.sum + b.sum,
    count: a.count + b.count,
  };
}
