/**
 * `npm run bench`: starts each target on its own loopback port, drives it with the load generator
 * process, and reports throughput, latency, server CPU per request and peak RSS, alternating targets
 * within each round so that drift on a shared machine hits all of them alike. See bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadgenFailure, LoadgenJob, LoadgenReport } from './loadgen.ts';
import { OptionError, parseOptions, usage, type BenchOptions } from './options.ts';
import { clockTicksPerSecond, treePeakRssBytes } from './proc.ts';
import {
  median,
  ratios,
  ratioTable,
  runLine,
  summarize,
  summaryTable,
  type Ratio,
  type RunRecord,
  type Summary,
} from './report.ts';
import {
  LOOPBACK,
  killAllStarted,
  killAllStartedSync,
  pinnedArgv,
  planPinning,
  spawnTracked,
  type Pinning,
  type TrackedProcess,
} from './servers.ts';
import { BASELINE, type StartedTarget, type Target, type TargetContext } from './targets.ts';
import type { Workload } from './workloads.ts';

const SELF_EXT = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const LOADGEN = fileURLToPath(new URL(`./loadgen${SELF_EXT}`, import.meta.url));
/** Load generator budget beyond warm-up + duration: spawn, connect, preload, drain. */
const LOADGEN_SLACK_MS = 45_000;
/** A load generator above this share of its CPU may be what limits throughput. */
const LOADGEN_BUSY_PCT = 90;
/** CPU used by processes outside the benchmark above which a run counts as disturbed. */
const OTHER_BUSY_PCT = 25;

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

function shellQuote(args: readonly string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ');
}

function tryExec(file: string, args: string[], cwd?: string): string | undefined {
  try {
    return execFileSync(file, args, {
      encoding: 'utf8',
      timeout: 3000,
      cwd,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

interface Machine {
  readonly node: string;
  readonly platform: string;
  readonly kernel: string;
  readonly cpus: number;
  readonly availableParallelism: number;
  readonly cpuModel: string;
  readonly totalMemoryBytes: number;
  readonly loadAverage: readonly number[];
  readonly clockTicks: number;
  readonly memcachedVersion: string | undefined;
  readonly gitCommit: string | undefined;
}

function machineFacts(o: BenchOptions): Machine {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    cpus: cpus.length,
    availableParallelism: os.availableParallelism(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    totalMemoryBytes: os.totalmem(),
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    clockTicks: clockTicksPerSecond(),
    memcachedVersion: tryExec(o.memcachedBin, ['-V']),
    gitCommit: tryExec('git', ['rev-parse', '--short', 'HEAD'], o.repoRoot),
  };
}

// ---------------------------------------------------------------------------------------------------
// One measured run

function awaitReport(lg: TrackedProcess, job: LoadgenJob, timeoutMs: number): Promise<LoadgenReport> {
  return new Promise((resolve, reject) => {
    const child = lg.child;
    const finish = (fn: () => void): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      fn();
    };
    const onMessage = (msg: LoadgenReport | LoadgenFailure): void => {
      finish(() => {
        if (msg.type === 'report') resolve(msg);
        else reject(new Error(`load generator: ${msg.message}`));
      });
    };
    const onExit = (): void => {
      finish(() => {
        reject(new Error(`load generator ${lg.describeExit()}`));
      });
    };
    const timer = setTimeout(() => {
      finish(() => {
        reject(new Error(`load generator: no report after ${timeoutMs} ms`));
      });
    }, timeoutMs);
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(job);
  });
}

interface RunContext {
  readonly options: BenchOptions;
  readonly pinning: Pinning;
  readonly machine: Machine;
  readonly targetContext: TargetContext;
}

/** Set by SIGINT/SIGTERM/SIGHUP: no new run starts. */
let interrupted = false;

/** Servers asked to stop and not yet awaited. */
const stopping: Promise<void>[] = [];

class StartError extends Error {
  readonly code = 'BENCH_START';
}

async function runOnce(
  ctx: RunContext,
  target: Target,
  workload: Workload,
  round: number,
  onStart: (s: StartedTarget) => void,
): Promise<RunRecord> {
  const o = ctx.options;
  const base = { workload: workload.name, target: target.name, round, startedAt: new Date().toISOString() };
  let server: StartedTarget;
  try {
    server = await target.start(ctx.targetContext);
  } catch (err) {
    throw new StartError(err instanceof Error ? err.message : String(err));
  }
  let lg: TrackedProcess | undefined;
  try {
    onStart(server);
    lg = spawnTracked(pinnedArgv(process.execPath, [LOADGEN], ctx.pinning.loadgenCpus), {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const job: LoadgenJob = {
      type: 'job',
      host: LOOPBACK,
      port: server.port,
      serverPid: server.pid,
      clockTicks: ctx.machine.clockTicks,
      workload,
      warmupMs: o.warmupMs,
      durationMs: o.durationMs,
      threads: o.loadgenThreads,
    };
    const r = await awaitReport(lg, job, o.warmupMs + o.durationMs + LOADGEN_SLACK_MS);
    const rss = treePeakRssBytes(server.pid);
    if (!server.alive()) throw new Error(`${target.name} died during the run`);
    if (r.ops === 0) {
      throw new Error(
        `no replies in the measured window${r.firstError === undefined ? '' : ` (${r.firstError})`}`,
      );
    }
    const windowUs = r.windowMs * 1000;
    const us = (ns: number): number => ns / 1000;
    return {
      ...base,
      ok: true,
      argv: server.argv,
      port: server.port,
      opsPerSec: r.ops / (r.windowMs / 1000),
      ops: r.ops,
      gets: r.gets,
      sets: r.sets,
      hits: r.hits,
      misses: r.misses,
      errors: r.errors,
      ...(r.firstError === undefined ? {} : { firstError: r.firstError }),
      unanswered: r.unanswered,
      windowMs: r.windowMs,
      preloadMs: r.preloadMs,
      latencyUs: {
        min: us(r.latency.minNs),
        mean: us(r.latency.meanNs),
        p50: us(r.latency.p50Ns),
        p90: us(r.latency.p90Ns),
        p99: us(r.latency.p99Ns),
        p999: us(r.latency.p999Ns),
        max: us(r.latency.maxNs),
      },
      ...(r.serverCpuMicros === undefined
        ? {}
        : {
            serverCpuUsPerOp: r.serverCpuMicros / r.ops,
            serverCpuPct: (100 * r.serverCpuMicros) / windowUs,
          }),
      ...(rss === undefined ? {} : { serverPeakRssBytes: rss }),
      loadgenCpuUsPerOp: r.loadgenCpuMicros / r.ops,
      loadgenCpuPct: (100 * r.loadgenCpuMicros) / windowUs,
      loadgenSystemCpuPct: (100 * r.loadgenSystemCpuMicros) / windowUs,
      ...(r.machineBusyMicros === undefined || r.serverCpuMicros === undefined
        ? {}
        : {
            otherCpuPct: Math.max(
              0,
              (100 * (r.machineBusyMicros - r.serverCpuMicros - r.loadgenCpuMicros)) / windowUs,
            ),
          }),
    };
  } catch (err) {
    return {
      ...base,
      ok: false,
      error: err instanceof Error ? err.message : String(err),
      argv: server.argv,
      port: server.port,
    };
  } finally {
    await lg?.stop();
    // Servers can take a second to exit (memcached's background threads); that happens, idle, during the
    // next run's start-up and warm-up instead of adding a second to every run.
    stopping.push(server.stop());
  }
}

// ---------------------------------------------------------------------------------------------------
// Main

function printHeader(o: BenchOptions, m: Machine, pinning: Pinning, argv: readonly string[]): void {
  const envSet = Object.entries(process.env).filter(
    ([k]) => k.startsWith('BENCH_') || k === 'MEMCACHED_BIN' || k === 'MOXI_BIN',
  );
  out(
    `moxi.ts benchmark, ${new Date().toISOString()}${m.gitCommit === undefined ? '' : ` (commit ${m.gitCommit})`}`,
  );
  out(
    `command:  ${shellQuote(argv)}${process.env.npm_lifecycle_event === 'bench' ? '   (npm run bench)' : ''}`,
  );
  if (envSet.length > 0) out(`env:      ${envSet.map(([k, v]) => `${k}=${v ?? ''}`).join(' ')}`);
  out(
    `machine:  node ${m.node}, ${m.platform} ${m.kernel}, ${m.cpus} cores (${m.cpuModel}), ` +
      `available parallelism ${m.availableParallelism}, ${(m.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB, ` +
      `load average ${m.loadAverage.join(' ')}`,
  );
  out(
    `servers:  ${m.memcachedVersion ?? `${o.memcachedBin} (version unknown)`}; moxi ${relative(process.cwd(), o.moxiBin) || o.moxiBin}`,
  );
  out(`pinning:  ${pinning.note}`);
  out(
    `plan:     ${o.rounds} rounds x workloads [${o.workloads.map((w) => w.name).join(', ')}] x targets ` +
      `[${o.targets.map((t) => t.name).join(', ')}], ${o.warmupMs / 1000} s warm-up + ${o.durationMs / 1000} s measured per run, ` +
      `load generator ${o.loadgenThreads} thread(s)`,
  );
  for (const w of o.workloads) out(`  workload ${w.name.padEnd(6)} ${w.description}`);
  for (const t of o.targets) out(`  target   ${t.name.padEnd(10)} ${t.description}`);
  out();
}

function printSummary(summaries: readonly Summary[], rs: readonly Ratio[], runs: readonly RunRecord[]): void {
  out();
  out(
    'Medians over rounds (ops/s min - max over rounds; srv = server under test; cpu in % of one core; ' +
      'other = CPU used by processes not in the benchmark)',
  );
  out(summaryTable(summaries));
  if (rs.length > 0) {
    out();
    out(
      'Ratios (ratio of medians [range of per-round ratios]; throughput > 1, latency and cpu/op < 1 favour the target)',
    );
    out(ratioTable(rs));
  }
  const notes: string[] = [];
  for (const s of summaries) {
    if (s.errors > 0)
      notes.push(`${s.workload}/${s.target}: ${s.errors} protocol errors (see runs in the JSON)`);
    if (s.misses > 0)
      notes.push(`${s.workload}/${s.target}: ${s.misses} get misses after preloading every key`);
  }
  const busy = runs.filter((r) => r.ok && (r.loadgenCpuPct ?? 0) >= LOADGEN_BUSY_PCT);
  if (busy.length > 0) {
    notes.push(
      `load generator at >= ${LOADGEN_BUSY_PCT}% CPU in ${busy.length} run(s) (${busy.map((r) => `${r.workload}/${r.target}#${r.round}`).join(', ')}): ` +
        'throughput there may be limited by the load generator, not the server',
    );
  }
  const noisy = runs.filter((r) => r.ok && (r.otherCpuPct ?? 0) >= OTHER_BUSY_PCT);
  if (noisy.length > 0) {
    notes.push(
      `other processes used >= ${OTHER_BUSY_PCT}% of a core during ${noisy.length} of ${runs.length} run(s): ` +
        'throughput and tail latency are disturbed there; srv µs/op is the steadier comparison (or rerun)',
    );
  }
  const lg = runs
    .filter((r) => r.ok)
    .map((r) => r.loadgenCpuPct ?? NaN)
    .filter(Number.isFinite);
  if (lg.length > 0) {
    out();
    out(
      `load generator CPU over all runs: median ${Math.round(median(lg))}%, max ${Math.round(Math.max(...lg))}% of one core`,
    );
  }
  for (const n of notes) out(`NOTE: ${n}`);
}

async function main(): Promise<number> {
  const t0 = performance.now();
  let options: BenchOptions;
  try {
    const parsed = parseOptions(process.argv.slice(2), process.env);
    if (parsed.help) {
      out(usage());
      return 0;
    }
    options = parsed.options;
  } catch (err) {
    process.stderr.write(
      `bench: ${err instanceof OptionError || err instanceof TypeError ? err.message : String(err)}\n\n${usage()}\n`,
    );
    return 2;
  }
  const o = options;
  const pinning = planPinning(o.pin);
  const machine = machineFacts(o);
  const argv = [process.execPath, ...process.argv.slice(1)];
  printHeader(o, machine, pinning, argv);
  out(
    'Per run: ops/s, latency percentiles, srv = server CPU per request and share of a core, rss = server ' +
      'peak RSS, lg = load generator share of its core, other = CPU used by processes outside the benchmark',
  );
  if (o.targets.some((t) => t.name === 'moxi') && !existsSync(o.moxiBin)) {
    out(`NOTE: ${o.moxiBin} does not exist; the moxi target will fail`);
  }

  const ctx: RunContext = {
    options: o,
    pinning,
    machine,
    targetContext: {
      memoryMb: o.memoryMb,
      serverCpus: pinning.serverCpus,
      memcachedBin: o.memcachedBin,
      moxiBin: o.moxiBin,
    },
  };
  const runs: RunRecord[] = [];
  const broken = new Map<string, string>();
  const shownArgv = new Set<string>();
  const nameWidth = Math.max(...o.targets.map((t) => t.name.length));
  for (const workload of o.workloads) {
    for (let round = 1; round <= o.rounds; round++) {
      for (const target of o.targets) {
        if (interrupted) return 130;
        const why = broken.get(target.name);
        let record: RunRecord;
        if (why !== undefined) {
          record = {
            workload: workload.name,
            target: target.name,
            round,
            startedAt: new Date().toISOString(),
            ok: false,
            error: `skipped (${why})`,
          };
        } else {
          try {
            record = await runOnce(ctx, target, workload, round, (s) => {
              if (!shownArgv.has(target.name)) {
                shownArgv.add(target.name);
                out(`  started ${target.name}: ${shellQuote(s.argv)}`);
              }
            });
          } catch (err) {
            if (!(err instanceof StartError)) throw err;
            broken.set(target.name, `did not start: ${err.message}`);
            record = {
              workload: workload.name,
              target: target.name,
              round,
              startedAt: new Date().toISOString(),
              ok: false,
              error: `did not start: ${err.message}`,
            };
          }
        }
        runs.push(record);
        out(runLine(record, nameWidth, o.rounds));
      }
    }
  }

  await Promise.all(stopping);
  const targetNames = o.targets.map((t) => t.name);
  const baseline = targetNames.includes(BASELINE) ? BASELINE : targetNames[0];
  const summaries: Summary[] = [];
  const ratioRows: Ratio[] = [];
  for (const w of o.workloads) {
    for (const t of targetNames) {
      const s = summarize(runs, w.name, t);
      if (s) summaries.push(s);
    }
    ratioRows.push(...ratios(runs, w.name, targetNames, baseline));
  }
  printSummary(summaries, ratioRows, runs);

  if (o.json) {
    const stamp = new Date()
      .toISOString()
      .replaceAll(':', '-')
      .replace(/\.\d+Z$/, 'Z');
    mkdirSync(o.outDir, { recursive: true });
    const file = join(o.outDir, `${stamp}.json`);
    const doc = {
      format: 'moxi.ts-bench/1',
      finishedAt: new Date().toISOString(),
      elapsedSeconds: Math.round((performance.now() - t0) / 100) / 10,
      command: argv,
      cwd: process.cwd(),
      machine,
      pinning,
      options: {
        durationMs: o.durationMs,
        warmupMs: o.warmupMs,
        rounds: o.rounds,
        memoryMb: o.memoryMb,
        loadgenThreads: o.loadgenThreads,
        memcachedBin: o.memcachedBin,
        moxiBin: o.moxiBin,
      },
      workloads: o.workloads,
      targets: o.targets.map((t) => ({ name: t.name, description: t.description })),
      baseline,
      runs,
      summaries,
      ratios: ratioRows,
    };
    writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
    out();
    const rel = relative(process.cwd(), file);
    out(`results: ${rel.startsWith('..') ? file : rel}`);
  }
  out(`elapsed: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const failed = runs.some((r) => !r.ok) || summaries.some((s) => s.errors > 0);
  return failed ? 1 : 0;
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nbench: ${signal}, stopping the processes it started\n`);
    void killAllStarted().finally(() => process.exit(130));
  });
}
process.on('exit', () => {
  killAllStartedSync();
});

main().then(
  async (code) => {
    await killAllStarted();
    process.exitCode = code;
  },
  async (err: unknown) => {
    await killAllStarted();
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
