/**
 * `--profile`: a CPU profile of moxi.ts over each measured window, taken through its admin endpoint
 * (`GET /debug/cpu-profile`, src/admin/cpu-profile.ts: V8's sampling profiler, as `node --cpu-prof`
 * runs it, but over the window only rather than from start-up to exit), saved as a `.cpuprofile`
 * (Chrome DevTools, speedscope) and summed up in the output: how the window divides into idle time,
 * garbage collection and V8's own work, and the functions with the most self time.
 */
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What V8's profiler returns (Profiler.Profile), as far as the summary reads it. */
export interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  }>;
  /** Microseconds. */
  readonly startTime: number;
  readonly endTime: number;
  /** The node each sample landed in, and the time since the sample before it (µs). */
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileFunction {
  /** The function's name ("(anonymous)" for a function without one). */
  readonly name: string;
  /** Where it is: a path under the repository, or node's own module, and its line (1-based). */
  readonly where: string;
  /** Share of the sampled time spent in the function itself (not in what it called), %. */
  readonly selfPct: number;
}

export interface ProfileSummary {
  readonly sampledMs: number;
  readonly samples: number;
  /** Shares of the sampled time, %: waiting for events, V8's collector, V8 and Node outside JS code. */
  readonly idlePct: number;
  readonly gcPct: number;
  readonly programPct: number;
  /** The functions with the most self time, most first. */
  readonly top: readonly ProfileFunction[];
}

/** V8's names for time spent in no JS function. */
const IDLE = '(idle)';
const GC = '(garbage collector)';
const PROGRAM = '(program)';
const ROOT = '(root)';

function where(url: string, line: number, repoRoot: string): string {
  let path = url;
  if (url.startsWith('file://')) {
    const file = fileURLToPath(url);
    const rel = relative(repoRoot, file);
    path = rel.startsWith('..') ? file : rel;
  }
  return path === '' ? '(native)' : `${path}:${line + 1}`;
}

/**
 * Self time per function over the profile's window (each sample counts for the time until the next
 * one), and the `topN` functions with the most.
 */
export function summarizeCpuProfile(profile: CpuProfile, repoRoot: string, topN = 8): ProfileSummary {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const { samples, timeDeltas } = profile;
  const selfUs = new Map<string, number>();
  let at = profile.startTime;
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    at += timeDeltas[i] ?? 0;
    const next = i + 1 < samples.length ? at + (timeDeltas[i + 1] ?? 0) : profile.endTime;
    const us = Math.max(0, next - at);
    total += us;
    const frame = nodes.get(samples[i]);
    if (frame === undefined) continue;
    const name = frame.functionName;
    const key =
      name === IDLE || name === GC || name === PROGRAM || name === ROOT
        ? name
        : `${name === '' ? '(anonymous)' : name}\t${where(frame.url, frame.lineNumber, repoRoot)}`;
    selfUs.set(key, (selfUs.get(key) ?? 0) + us);
  }
  const pct = (us: number | undefined): number => (total > 0 ? (100 * (us ?? 0)) / total : 0);
  const top = [...selfUs]
    .filter(([key]) => key.includes('\t'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([key, us]) => {
      const [name, place] = key.split('\t');
      return { name, where: place, selfPct: pct(us) };
    });
  return {
    sampledMs: total / 1000,
    samples: samples.length,
    idlePct: pct(selfUs.get(IDLE)),
    gcPct: pct(selfUs.get(GC)),
    programPct: pct(selfUs.get(PROGRAM)),
    top,
  };
}

/** The summary as indented lines under a run's line. */
export function profileLines(summary: ProfileSummary, file: string): string[] {
  const f1 = (x: number): string => x.toFixed(1);
  const lines = [
    `      profile ${file}: ${Math.round(summary.sampledMs).toLocaleString('en-US')} ms, ` +
      `${summary.samples.toLocaleString('en-US')} samples; idle ${f1(summary.idlePct)}%, ` +
      `GC ${f1(summary.gcPct)}%, (program) ${f1(summary.programPct)}%; most self time:`,
  ];
  for (const fn of summary.top) {
    lines.push(`        ${f1(fn.selfPct).padStart(5)}%  ${fn.name}  ${fn.where}`);
  }
  return lines;
}

/**
 * Asks moxi.ts's admin endpoint on `adminPort` for a profile of `seconds`; resolves with its JSON text,
 * or rejects with the endpoint's reason.
 */
export async function fetchCpuProfile(host: string, adminPort: number, seconds: number): Promise<string> {
  const res = await fetch(`http://${host}:${adminPort}/debug/cpu-profile?seconds=${seconds}`, {
    signal: AbortSignal.timeout(seconds * 1000 + 30_000),
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`admin endpoint answered ${res.status}: ${body.trim()}`);
  return body;
}
