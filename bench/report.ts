/**
 * Benchmark results: the per-run record, medians per (workload, target), ratios against the baseline
 * target, and their text rendering. Pure functions over plain data; run.ts does the I/O.
 */

export interface RunRecord {
  readonly workload: string;
  readonly target: string;
  readonly round: number;
  readonly startedAt: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly argv?: readonly string[];
  readonly port?: number;
  readonly opsPerSec?: number;
  readonly ops?: number;
  readonly gets?: number;
  readonly sets?: number;
  readonly hits?: number;
  readonly misses?: number;
  readonly errors?: number;
  readonly firstError?: string;
  readonly unanswered?: number;
  readonly windowMs?: number;
  readonly preloadMs?: number;
  readonly latencyUs?: {
    readonly min: number;
    readonly mean: number;
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly p999: number;
    readonly max: number;
  };
  /** Server CPU (user + system) per completed request, µs, and as a share of one core. */
  readonly serverCpuUsPerOp?: number;
  readonly serverCpuPct?: number;
  /** VmHWM of the server process (and descendants) at the end of the run. */
  readonly serverPeakRssBytes?: number;
  readonly loadgenCpuUsPerOp?: number;
  readonly loadgenCpuPct?: number;
  /** The kernel-side (system) part of loadgenCpuPct. */
  readonly loadgenSystemCpuPct?: number;
  /** CPU used on the machine by anything but the server and the load generator, % of one core. */
  readonly otherCpuPct?: number;
}

export interface Summary {
  readonly workload: string;
  readonly target: string;
  readonly runs: number;
  readonly failed: number;
  readonly opsPerSec: { readonly median: number; readonly min: number; readonly max: number };
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly serverCpuUsPerOp: number | undefined;
  readonly serverCpuPct: number | undefined;
  readonly serverPeakRssBytes: number | undefined;
  readonly loadgenCpuPct: { readonly median: number; readonly max: number } | undefined;
  readonly otherCpuPct: number | undefined;
  readonly errors: number;
  readonly misses: number;
}

export interface RatioRange {
  /** Ratio of the medians. */
  readonly ofMedians: number;
  /** Range of the per-round ratios (runs of the same round ran back to back). */
  readonly perRoundMin: number;
  readonly perRoundMax: number;
}

export interface Ratio {
  readonly workload: string;
  /** "<target>/<baseline>" */
  readonly label: string;
  readonly target: string;
  readonly baseline: string;
  readonly throughput: RatioRange;
  readonly p50: RatioRange;
  readonly p99: RatioRange;
  /** Server CPU per request: the steadiest of the four on a shared machine. */
  readonly serverCpuPerOp: RatioRange;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function defined(xs: readonly (number | undefined)[]): number[] {
  return xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
}

function medianOrUndefined(xs: readonly (number | undefined)[]): number | undefined {
  const d = defined(xs);
  return d.length === 0 ? undefined : median(d);
}

export function summarize(runs: readonly RunRecord[], workload: string, target: string): Summary | undefined {
  const mine = runs.filter((r) => r.workload === workload && r.target === target);
  if (mine.length === 0) return undefined;
  const ok = mine.filter((r) => r.ok);
  const ops = defined(ok.map((r) => r.opsPerSec));
  const lg = defined(ok.map((r) => r.loadgenCpuPct));
  return {
    workload,
    target,
    runs: ok.length,
    failed: mine.length - ok.length,
    opsPerSec: { median: median(ops), min: Math.min(...ops), max: Math.max(...ops) },
    p50Us: median(defined(ok.map((r) => r.latencyUs?.p50))),
    p99Us: median(defined(ok.map((r) => r.latencyUs?.p99))),
    p999Us: median(defined(ok.map((r) => r.latencyUs?.p999))),
    serverCpuUsPerOp: medianOrUndefined(ok.map((r) => r.serverCpuUsPerOp)),
    serverCpuPct: medianOrUndefined(ok.map((r) => r.serverCpuPct)),
    serverPeakRssBytes: medianOrUndefined(ok.map((r) => r.serverPeakRssBytes)),
    loadgenCpuPct: lg.length === 0 ? undefined : { median: median(lg), max: Math.max(...lg) },
    otherCpuPct: medianOrUndefined(ok.map((r) => r.otherCpuPct)),
    errors: ok.reduce((n, r) => n + (r.errors ?? 0), 0),
    misses: ok.reduce((n, r) => n + (r.misses ?? 0), 0),
  };
}

function ratioRange(
  runs: readonly RunRecord[],
  workload: string,
  target: string,
  baseline: string,
  pick: (r: RunRecord) => number | undefined,
): RatioRange {
  const of = (t: string): RunRecord[] =>
    runs.filter((r) => r.ok && r.workload === workload && r.target === t);
  const mine = of(target);
  const base = of(baseline);
  const perRound: number[] = [];
  for (const r of mine) {
    const b = base.find((x) => x.round === r.round);
    const num = pick(r);
    const den = b === undefined ? undefined : pick(b);
    if (num !== undefined && den !== undefined && den > 0) perRound.push(num / den);
  }
  return {
    ofMedians: median(defined(mine.map(pick))) / median(defined(base.map(pick))),
    perRoundMin: perRound.length > 0 ? Math.min(...perRound) : NaN,
    perRoundMax: perRound.length > 0 ? Math.max(...perRound) : NaN,
  };
}

export function ratios(
  runs: readonly RunRecord[],
  workload: string,
  targets: readonly string[],
  baseline: string,
): Ratio[] {
  const out: Ratio[] = [];
  for (const target of targets) {
    if (target === baseline) continue;
    out.push({
      workload,
      label: `${target}/${baseline}`,
      target,
      baseline,
      throughput: ratioRange(runs, workload, target, baseline, (r) => r.opsPerSec),
      p50: ratioRange(runs, workload, target, baseline, (r) => r.latencyUs?.p50),
      p99: ratioRange(runs, workload, target, baseline, (r) => r.latencyUs?.p99),
      serverCpuPerOp: ratioRange(runs, workload, target, baseline, (r) => r.serverCpuUsPerOp),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Text

export function fmtInt(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? '-' : Math.round(n).toLocaleString('en-US');
}

export function fmtNum(n: number | undefined, digits: number): string {
  return n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits);
}

export function fmtMb(bytes: number | undefined): string {
  return bytes === undefined || !Number.isFinite(bytes) ? '-' : `${(bytes / 1048576).toFixed(1)} MB`;
}

export function fmtPct(pct: number | undefined): string {
  return pct === undefined || !Number.isFinite(pct) ? '-' : `${Math.round(pct)}%`;
}

/** Latency in µs: 3 significant digits below 100, whole numbers above. */
export function fmtUs(us: number | undefined): string {
  if (us === undefined || !Number.isFinite(us)) return '-';
  return us < 10 ? us.toFixed(2) : us < 100 ? us.toFixed(1) : fmtInt(us);
}

/** A table with a header row; columns right-aligned except those named in `left`. */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  left: ReadonlySet<number>,
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (left.has(i) ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function runLine(r: RunRecord, nameWidth: number, rounds: number): string {
  const head = `  ${r.workload.padEnd(5)} ${`${r.round}/${rounds}`.padStart(5)}  ${r.target.padEnd(nameWidth)}`;
  if (!r.ok) return `${head}  FAILED: ${r.error ?? 'unknown error'}`;
  const l = r.latencyUs;
  const problems = (r.errors ?? 0) > 0 ? `  ERRORS ${r.errors}: ${r.firstError ?? ''}` : '';
  const misses = (r.misses ?? 0) > 0 ? `  misses ${fmtInt(r.misses)}` : '';
  return (
    `${head}  ${fmtInt(r.opsPerSec).padStart(9)} ops/s` +
    `  p50 ${fmtUs(l?.p50).padStart(5)}  p99 ${fmtUs(l?.p99).padStart(5)}  p999 ${fmtUs(l?.p999).padStart(6)} µs` +
    `  srv ${fmtNum(r.serverCpuUsPerOp, 2).padStart(5)} µs/op ${fmtPct(r.serverCpuPct).padStart(4)}` +
    `  rss ${fmtMb(r.serverPeakRssBytes).padStart(8)}  lg ${fmtPct(r.loadgenCpuPct).padStart(4)}` +
    `  other ${fmtPct(r.otherCpuPct).padStart(4)}${misses}${problems}`
  );
}

export function summaryTable(summaries: readonly Summary[]): string {
  const header = [
    'workload',
    'target',
    'runs',
    'ops/s',
    '(min - max)',
    'p50 µs',
    'p99 µs',
    'p999 µs',
    'srv µs/op',
    'srv cpu',
    'peak RSS',
    'loadgen cpu (max)',
    'other cpu',
  ];
  const rows = summaries.map((s) => [
    s.workload,
    s.target,
    s.failed > 0 ? `${s.runs} (+${s.failed} failed)` : String(s.runs),
    fmtInt(s.opsPerSec.median),
    s.runs > 0 ? `(${fmtInt(s.opsPerSec.min)} - ${fmtInt(s.opsPerSec.max)})` : '',
    fmtUs(s.p50Us),
    fmtUs(s.p99Us),
    fmtUs(s.p999Us),
    fmtNum(s.serverCpuUsPerOp, 2),
    fmtPct(s.serverCpuPct),
    fmtMb(s.serverPeakRssBytes),
    s.loadgenCpuPct === undefined
      ? '-'
      : `${fmtPct(s.loadgenCpuPct.median)} (${fmtPct(s.loadgenCpuPct.max)})`,
    fmtPct(s.otherCpuPct),
  ]);
  return table(header, rows, new Set([0, 1]));
}

function fmtRatio(r: RatioRange): string {
  return `${fmtNum(r.ofMedians, 2)} [${fmtNum(r.perRoundMin, 2)}-${fmtNum(r.perRoundMax, 2)}]`;
}

export function ratioTable(rs: readonly Ratio[]): string {
  const header = ['workload', 'ratio', 'throughput', 'p50 latency', 'p99 latency', 'srv cpu/op'];
  const rows = rs.map((r) => [
    r.workload,
    r.label,
    fmtRatio(r.throughput),
    fmtRatio(r.p50),
    fmtRatio(r.p99),
    fmtRatio(r.serverCpuPerOp),
  ]);
  return table(header, rows, new Set([0, 1]));
}
