/**
 * moxi's `time_stats` histograms (its htgram): microseconds counted into 20 bins 100 us wide from 0,
 * then 20 bins from 2000 us whose width doubles from 100 us; longer times are not kept. `stats proxy
 * timings` draws them as moxi does (htgram_dump): one line per bin from the first that counted anything
 * to the one after the last, `START+WIDTH=COUNT PCT% BARS`, the columns padded to line up, PCT the share
 * of all counts up to and including that bin, up to 24 `*` scaled to the fullest bin.
 */

const LINEAR_BINS = 20;
const LINEAR_WIDTH = 100;
const GROWING_BINS = 20;

/** Where each bin starts and how wide it is (microseconds). */
const BIN_STARTS: number[] = [];
const BIN_WIDTHS: number[] = [];
for (let i = 0; i < LINEAR_BINS; i++) {
  BIN_STARTS.push(i * LINEAR_WIDTH);
  BIN_WIDTHS.push(LINEAR_WIDTH);
}
for (let i = 0, start = LINEAR_BINS * LINEAR_WIDTH, width = LINEAR_WIDTH; i < GROWING_BINS; i++) {
  BIN_STARTS.push(start);
  BIN_WIDTHS.push(width);
  start += width;
  width *= 2;
}
export const TIMING_BINS = BIN_STARTS.length;
const LINEAR_END = LINEAR_BINS * LINEAR_WIDTH;
const LAST_END = BIN_STARTS[TIMING_BINS - 1] + BIN_WIDTHS[TIMING_BINS - 1];

export class TimingHistogram {
  private readonly counts = new Float64Array(TIMING_BINS);

  /** Counts one duration of `ms` milliseconds. */
  record(ms: number): void {
    const us = Math.floor(ms * 1000);
    if (us < 0 || us >= LAST_END) return;
    if (us < LINEAR_END) {
      this.counts[Math.floor(us / LINEAR_WIDTH)]++;
      return;
    }
    let i = LINEAR_BINS;
    while (us >= BIN_STARTS[i] + BIN_WIDTHS[i]) i++;
    this.counts[i]++;
  }

  snapshot(): number[] {
    return Array.from(this.counts);
  }

  reset(): void {
    this.counts.fill(0);
  }
}

/** A pool's two histograms: connecting to a server, and a request's time at its server. */
export interface PoolTimings {
  readonly connect: TimingHistogram;
  readonly reserved: TimingHistogram;
}

export interface PoolTimingsSnapshot {
  readonly connect: number[];
  readonly reserved: number[];
}

/** a + b, bin by bin. */
export function addTimings(a: readonly number[], b: readonly number[]): number[] {
  return a.map((n, i) => n + (b[i] ?? 0));
}

/** moxi's lines for a histogram's counts (none when nothing was counted). */
export function timingLines(counts: readonly number[]): string[] {
  let first = -1;
  let last = -1;
  let max = 0;
  let total = 0;
  counts.forEach((n, i) => {
    if (n <= 0) return;
    if (first < 0) first = i;
    last = i;
    max = Math.max(max, n);
    total += n;
  });
  if (first < 0) return [];
  // moxi draws one bin past the last that counted
  const end = Math.min(last + 1, counts.length - 1);
  const rows: Array<{ start: string; width: string; count: string; pct: string; bar: string }> = [];
  let running = 0;
  for (let i = first; i <= end; i++) {
    const n = counts[i];
    // moxi divides in single precision
    const pct = percent(100 * Math.fround(Math.fround(n + running) / Math.fround(total)));
    running += n;
    rows.push({
      start: String(BIN_STARTS[i]),
      width: String(BIN_WIDTHS[i]),
      count: `${n} `,
      pct,
      bar: '*'.repeat(Math.floor((24 * n) / max)),
    });
  }
  const startWidth = Math.max(...rows.map((r) => r.start.length));
  const widthWidth = Math.max(...rows.map((r) => r.width.length));
  // the count, a space and the percentage take the same room on every line
  const countWidth = Math.max(...rows.map((r) => r.count.length + r.pct.length));
  return rows.map(
    (r) =>
      `${r.start.padStart(startWidth)}+${r.width.padEnd(widthWidth)}=${r.count}` +
      `${' '.repeat(countWidth - r.count.length - r.pct.length)}${r.pct}% ${r.bar}`,
  );
}

/** printf's %.2f: the nearest of two decimals, an exact tie to the even one. */
function percent(x: number): string {
  const scaled = x * 100;
  const floor = Math.floor(scaled);
  if (scaled - floor === 0.5 && floor % 2 === 0) return (floor / 100).toFixed(2);
  return x.toFixed(2);
}
