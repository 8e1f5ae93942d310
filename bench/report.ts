/**
 * Benchmark results: the per-run record, medians per (workload, target), ratios between pairs of
 * targets, and their text rendering. Pure functions over plain data; run.ts does the I/O.
 */
import type { ProfileSummary } from './profile.ts';

export interface RunRecord {
  readonly workload: string;
  readonly target: string;
  readonly round: number;
  readonly startedAt: string;
  readonly ok: boolean;
  readonly error?: string;
  /** argv of the process under test (proxy or server). */
  readonly argv?: readonly string[];
  /** Where the load generator connected ("host:port"). */
  readonly endpoints?: readonly string[];
  /** With several endpoints (direct): how many of the keys each one owns. */
  readonly keysPerEndpoint?: readonly number[];
  /** Which role the measured process plays; undefined when there is none (direct). */
  readonly measuredRole?: 'proxy' | 'server';
  readonly opsPerSec?: number;
  /** Keys asked per second (gets' keys + sets): differs from opsPerSec for multi-key gets. */
  readonly keysPerSec?: number;
  readonly ops?: number;
  readonly gets?: number;
  readonly sets?: number;
  readonly keys?: number;
  /** Keys of gets found / not found (every key was preloaded: a miss is a fault). */
  readonly hits?: number;
  readonly misses?: number;
  /** Gets of the idle connections completed in the window (in ops too), turns skipped while one was unanswered. */
  readonly idleGets?: number;
  readonly idleLate?: number;
  /** Time the load generator took to open its connections, ms. */
  readonly connectMs?: number;
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
  /** CPU (user + system) of the process under test per completed request, µs, and as a share of one core. */
  readonly cpuUsPerOp?: number;
  readonly cpuPct?: number;
  /** VmHWM of the process under test (and descendants) at the end of the run. */
  readonly peakRssBytes?: number;
  /** CPU of all memcached backends per completed request, µs, and as a share of one core. */
  readonly backendCpuUsPerOp?: number;
  readonly backendCpuPct?: number;
  /** Each backend's share of the backends' CPU (sums to 1): how the load split over the servers. */
  readonly backendCpuShares?: readonly number[];
  readonly loadgenCpuUsPerOp?: number;
  readonly loadgenCpuPct?: number;
  /** The kernel-side (system) part of loadgenCpuPct. */
  readonly loadgenSystemCpuPct?: number;
  /** CPU used on the machine by anything but our processes (target, backends, loadgen), % of one core. */
  readonly otherCpuPct?: number;
  /** --profile: the window's CPU profile (file relative to the working directory) and its summary. */
  readonly profile?: { readonly file: string; readonly summary: ProfileSummary } | { readonly error: string };
}

export interface Summary {
  readonly workload: string;
  readonly target: string;
  readonly runs: number;
  readonly failed: number;
  readonly opsPerSec: { readonly median: number; readonly min: number; readonly max: number };
  readonly keysPerSec: number | undefined;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly measuredRole: 'proxy' | 'server' | undefined;
  readonly cpuUsPerOp: number | undefined;
  readonly cpuPct: number | undefined;
  readonly peakRssBytes: number | undefined;
  readonly backendCpuUsPerOp: number | undefined;
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
  /** CPU per request of the process under test (NaN when either side has none): the steadiest figure. */
  readonly cpuPerOp: RatioRange;
  /** CPU per request of the memcached backends (NaN when either side has none). */
  readonly backendCpuPerOp: RatioRange;
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
    keysPerSec: medianOrUndefined(ok.map((r) => r.keysPerSec)),
    p50Us: median(defined(ok.map((r) => r.latencyUs?.p50))),
    p99Us: median(defined(ok.map((r) => r.latencyUs?.p99))),
    p999Us: median(defined(ok.map((r) => r.latencyUs?.p999))),
    measuredRole: ok.find((r) => r.measuredRole !== undefined)?.measuredRole,
    cpuUsPerOp: medianOrUndefined(ok.map((r) => r.cpuUsPerOp)),
    cpuPct: medianOrUndefined(ok.map((r) => r.cpuPct)),
    peakRssBytes: medianOrUndefined(ok.map((r) => r.peakRssBytes)),
    backendCpuUsPerOp: medianOrUndefined(ok.map((r) => r.backendCpuUsPerOp)),
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

/** One Ratio per [target, baseline] pair. */
export function ratios(
  runs: readonly RunRecord[],
  workload: string,
  pairs: readonly (readonly [string, string])[],
): Ratio[] {
  return pairs.map(([target, baseline]) => {
    const range = (pick: (r: RunRecord) => number | undefined): RatioRange =>
      ratioRange(runs, workload, target, baseline, pick);
    return {
      workload,
      label: `${target}/${baseline}`,
      target,
      baseline,
      throughput: range((r) => r.opsPerSec),
      p50: range((r) => r.latencyUs?.p50),
      p99: range((r) => r.latencyUs?.p99),
      cpuPerOp: range((r) => r.cpuUsPerOp),
      backendCpuPerOp: range((r) => r.backendCpuUsPerOp),
    };
  });
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

/** "51:49": each backend's share of the backends' CPU, in %. */
function fmtShares(shares: readonly number[] | undefined): string {
  return shares === undefined || shares.length === 0
    ? ''
    : shares.map((x) => String(Math.round(100 * x))).join(':');
}

/** "n/a" where a target has no such process (direct has no proxy; server targets have no backends). */
const na = (present: boolean, text: string): string => (present ? text : 'n/a');

export function runLine(r: RunRecord, nameWidth: number, rounds: number): string {
  const head = `  ${r.workload.padEnd(5)} ${`${r.round}/${rounds}`.padStart(5)}  ${r.target.padEnd(nameWidth)}`;
  if (!r.ok) return `${head}  FAILED: ${r.error ?? 'unknown error'}`;
  const l = r.latencyUs;
  const problems = (r.errors ?? 0) > 0 ? `  ERRORS ${r.errors}: ${r.firstError ?? ''}` : '';
  const misses = (r.misses ?? 0) > 0 ? `  misses ${fmtInt(r.misses)}` : '';
  const measured = r.measuredRole !== undefined;
  const backends = r.backendCpuShares !== undefined;
  const keys = multiKey(r.opsPerSec, r.keysPerSec) ? ` (${fmtInt(r.keysPerSec)} keys/s)` : '';
  return (
    `${head}  ${fmtInt(r.opsPerSec).padStart(9)} ops/s${keys}` +
    `  p50 ${fmtUs(l?.p50).padStart(5)}  p99 ${fmtUs(l?.p99).padStart(5)}  p999 ${fmtUs(l?.p999).padStart(6)} µs` +
    `  ${r.measuredRole === 'server' ? 'srv  ' : 'proxy'} ${na(measured, fmtNum(r.cpuUsPerOp, 2)).padStart(5)} µs/op` +
    ` ${na(measured, fmtPct(r.cpuPct)).padStart(4)}  rss ${na(measured, fmtMb(r.peakRssBytes)).padStart(8)}` +
    `  mc ${na(backends, fmtNum(r.backendCpuUsPerOp, 2)).padStart(5)} µs/op ${na(backends, fmtPct(r.backendCpuPct)).padStart(4)}` +
    ` ${fmtShares(r.backendCpuShares).padEnd(5)}  lg ${fmtPct(r.loadgenCpuPct).padStart(4)}` +
    `  other ${fmtPct(r.otherCpuPct).padStart(4)}${misses}${problems}`
  );
}

/** Whether keys/s says more than ops/s (multi-key gets). */
function multiKey(ops: number | undefined, keys: number | undefined): boolean {
  return ops !== undefined && keys !== undefined && Math.abs(keys - ops) > 0.01 * ops;
}

export function summaryTable(summaries: readonly Summary[]): string {
  // A keys/s column only when some workload asks several keys per get.
  const withKeys = summaries.some((s) => multiKey(s.opsPerSec.median, s.keysPerSec));
  const header = [
    'workload',
    'target',
    'runs',
    'ops/s',
    '(min - max)',
    ...(withKeys ? ['keys/s'] : []),
    'p50 µs',
    'p99 µs',
    'p999 µs',
    'cpu µs/op',
    'cpu',
    'peak RSS',
    'mc µs/op',
    'loadgen cpu (max)',
    'other cpu',
  ];
  const rows = summaries.map((s) => [
    s.workload,
    s.target,
    s.failed > 0 ? `${s.runs} (+${s.failed} failed)` : String(s.runs),
    fmtInt(s.opsPerSec.median),
    s.runs > 0 ? `(${fmtInt(s.opsPerSec.min)} - ${fmtInt(s.opsPerSec.max)})` : '',
    ...(withKeys ? [multiKey(s.opsPerSec.median, s.keysPerSec) ? fmtInt(s.keysPerSec) : 'same'] : []),
    fmtUs(s.p50Us),
    fmtUs(s.p99Us),
    fmtUs(s.p999Us),
    na(s.measuredRole !== undefined || s.runs === 0, fmtNum(s.cpuUsPerOp, 2)),
    na(s.measuredRole !== undefined || s.runs === 0, fmtPct(s.cpuPct)),
    na(s.measuredRole !== undefined || s.runs === 0, fmtMb(s.peakRssBytes)),
    na(s.backendCpuUsPerOp !== undefined || s.runs === 0, fmtNum(s.backendCpuUsPerOp, 2)),
    s.loadgenCpuPct === undefined
      ? '-'
      : `${fmtPct(s.loadgenCpuPct.median)} (${fmtPct(s.loadgenCpuPct.max)})`,
    fmtPct(s.otherCpuPct),
  ]);
  return table(header, rows, new Set([0, 1]));
}

/** "0.93 [0.88-1.01]", "n/a" when either side has no such figure, "-" when no round paired up. */
function fmtRatio(r: RatioRange): string {
  if (!Number.isFinite(r.ofMedians)) return Number.isNaN(r.ofMedians) ? 'n/a' : '-';
  return `${fmtNum(r.ofMedians, 2)} [${fmtNum(r.perRoundMin, 2)}-${fmtNum(r.perRoundMax, 2)}]`;
}

export function ratioTable(rs: readonly Ratio[]): string {
  const header = ['workload', 'ratio', 'throughput', 'p50 latency', 'p99 latency', 'cpu/op', 'mc cpu/op'];
  const rows = rs.map((r) => [
    r.workload,
    r.label,
    fmtRatio(r.throughput),
    fmtRatio(r.p50),
    fmtRatio(r.p99),
    fmtRatio(r.cpuPerOp),
    fmtRatio(r.backendCpuPerOp),
  ]);
  return table(header, rows, new Set([0, 1]));
}
