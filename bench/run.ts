/**
 * `npm run bench`: starts each target on loopback ports (memcached directly, nutcracker, moxi.ts, ...),
 * drives it with the load generator process, and reports throughput, latency, the CPU per request and
 * peak RSS of the process under test and the CPU of the memcached backends, alternating targets within
 * each round so that drift on a shared machine hits all of them alike. See bench/README.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderChart } from './chart.ts';
import { Encoder, absoluteNow, type EngineEndpoint } from './engine.ts';
import type { LoadgenFailure, LoadgenJob, LoadgenReport, LoadgenWindow } from './loadgen.ts';
import { fetchCpuProfile, profileLines, summarizeCpuProfile, type CpuProfile } from './profile.ts';
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
  planFdLimit,
  planPinning,
  removeTempDirsSync,
  spawnTracked,
  type Pinning,
  type TrackedProcess,
} from './servers.ts';
import {
  BACKEND_COUNT,
  ratioPairs,
  startBackends,
  type Backends,
  type StartedTarget,
  type Target,
  type TargetContext,
} from './targets.ts';
import { totalConnections, type Workload } from './workloads.ts';

const SELF_EXT = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const LOADGEN = fileURLToPath(new URL(`./loadgen${SELF_EXT}`, import.meta.url));
/** Load generator budget beyond warm-up + duration: spawn, connect, preload, drain. */
const LOADGEN_SLACK_MS = 45_000;
/** A load generator above this share of its CPU may be what limits throughput. */
const LOADGEN_BUSY_PCT = 90;
/** CPU used by processes outside the benchmark above which a run counts as disturbed. */
const OTHER_BUSY_PCT = 25;
/** A target whose runs failed this many times (starting or running) is skipped for the rest. */
const MAX_FAILED_RUNS = 2;

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

function shellQuote(args: readonly string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ');
}

/** The first line a command prints (stdout, else stderr: nutcracker -V uses stderr), if it exits 0. */
function tryExec(file: string, args: string[], cwd?: string): string | undefined {
  const r = spawnSync(file, args, {
    encoding: 'utf8',
    timeout: 3000,
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.status !== 0) return undefined;
  const line = (r.stdout.trim() || r.stderr.trim()).split('\n')[0]?.trim();
  return line === '' ? undefined : line;
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
  readonly nutcrackerVersion: string | undefined;
  /** Modification time of the compiled CLI bin/moxi runs (dist/ may be older than the sources). */
  readonly moxiBuiltAt: string | undefined;
  readonly gitCommit: string | undefined;
}

function moxiBuiltAt(moxiBin: string): string | undefined {
  try {
    return statSync(join(dirname(moxiBin), '..', 'dist', 'src', 'cli', 'main.js')).mtime.toISOString();
  } catch {
    return undefined;
  }
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
    nutcrackerVersion: o.targets.some((t) => t.name.startsWith('nutcracker'))
      ? tryExec(o.nutcrackerBin, ['-V'])?.replace(/^This is /, '')
      : undefined,
    moxiBuiltAt: o.targets.some((t) => t.name.startsWith('moxi')) ? moxiBuiltAt(o.moxiBin) : undefined,
    gitCommit: tryExec('git', ['rev-parse', '--short', 'HEAD'], o.repoRoot),
  };
}

// ---------------------------------------------------------------------------------------------------
// One measured run

function awaitReport(
  lg: TrackedProcess,
  job: LoadgenJob,
  timeoutMs: number,
  onWindow: (w: LoadgenWindow) => void,
): Promise<LoadgenReport> {
  return new Promise((resolve, reject) => {
    const child = lg.child;
    const finish = (fn: () => void): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      fn();
    };
    const onMessage = (msg: LoadgenReport | LoadgenFailure | LoadgenWindow): void => {
      if (msg.type === 'window') {
        onWindow(msg);
        return;
      }
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
  /** --profile: where this bench's CPU profiles go. */
  readonly profileDir: string;
}

/** Set by SIGINT/SIGTERM/SIGHUP: no new run starts. */
let interrupted = false;

/** Servers asked to stop and not yet awaited. */
const stopping: Promise<void>[] = [];

class StartError extends Error {
  readonly code = 'BENCH_START';
}

/**
 * The load generator's endpoints: the target's own for one endpoint; with several (direct), each with
 * the keys the target's router puts on it, so every key lives on, and is asked of, one server only.
 */
function routedEndpoints(server: StartedTarget, workload: Workload): EngineEndpoint[] {
  const { endpoints, router } = server;
  if (endpoints.length === 1 || router === undefined) return [...endpoints];
  const enc = new Encoder(workload);
  const keys: number[][] = endpoints.map(() => []);
  for (let k = 0; k < workload.keyCount; k++) {
    keys[router.serverIndex(Buffer.from(enc.key(k), 'latin1'))].push(k);
  }
  const empty = keys.findIndex((list) => list.length === 0);
  if (empty >= 0) throw new Error(`${router.name} puts no key on endpoint ${empty}`);
  return endpoints.map((e, i) => ({ host: e.host, port: e.port, keys: keys[i] }));
}

/** A time as part of a file name: ISO 8601 to the second, with no colons (2026-11-25T05-17-03Z). */
function fileStamp(at: Date): string {
  return at
    .toISOString()
    .replaceAll(':', '-')
    .replace(/\.\d+Z$/, 'Z');
}

/** Writes a run's CPU profile under ctx.profileDir and sums it up (or says why there is none). */
async function saveProfile(
  ctx: RunContext,
  profiling: Promise<string>,
  run: { workload: string; target: string; round: number },
): Promise<NonNullable<RunRecord['profile']>> {
  try {
    const text = await profiling;
    mkdirSync(ctx.profileDir, { recursive: true });
    const file = join(ctx.profileDir, `${run.workload}-${run.target}-r${run.round}.cpuprofile`);
    writeFileSync(file, text);
    const summary = summarizeCpuProfile(JSON.parse(text) as CpuProfile, ctx.options.repoRoot);
    return { file: relative(process.cwd(), file), summary };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

async function runOnce(
  ctx: RunContext,
  targetContext: TargetContext,
  target: Target,
  workload: Workload,
  round: number,
  onStart: (s: StartedTarget, endpoints: readonly EngineEndpoint[]) => void,
): Promise<RunRecord> {
  const o = ctx.options;
  const base = { workload: workload.name, target: target.name, round, startedAt: new Date().toISOString() };
  let server: StartedTarget;
  try {
    server = await target.start(targetContext);
  } catch (err) {
    throw new StartError(err instanceof Error ? err.message : String(err));
  }
  const about = {
    ...(server.measured === undefined
      ? {}
      : { argv: server.measured.argv, measuredRole: server.measured.role }),
    endpoints: server.endpoints.map((e) => `${e.host}:${e.port}`),
  };
  let lg: TrackedProcess | undefined;
  let keysPerEndpoint: { keysPerEndpoint: number[] } | undefined;
  try {
    const endpoints = routedEndpoints(server, workload);
    if (endpoints.length > 1)
      keysPerEndpoint = { keysPerEndpoint: endpoints.map((e) => e.keys?.length ?? 0) };
    onStart(server, endpoints);
    const dead = server.dead();
    if (dead !== undefined) throw new Error(`before the run: ${dead}`);
    lg = spawnTracked(pinnedArgv(process.execPath, [LOADGEN], ctx.pinning.loadgenCpus), {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const job: LoadgenJob = {
      type: 'job',
      endpoints,
      measuredPid: server.measured?.pid,
      backendPids: server.backends.map((b) => b.pid),
      clockTicks: ctx.machine.clockTicks,
      workload,
      warmupMs: o.warmupMs,
      durationMs: o.durationMs,
      threads: o.loadgenThreads,
    };
    let profiling: Promise<string> | undefined;
    const adminPort = server.adminPort;
    const r = await awaitReport(lg, job, o.warmupMs + o.durationMs + LOADGEN_SLACK_MS, (w) => {
      if (!o.profile || adminPort === undefined) return;
      const seconds = (w.endAt - w.startAt) / 1000;
      profiling = new Promise((resolve) => setTimeout(resolve, w.startAt - absoluteNow())).then(() =>
        fetchCpuProfile(LOOPBACK, adminPort, seconds),
      );
      profiling.catch(() => undefined); // awaited below; not unhandled if the run fails first
    });
    const profile = profiling === undefined ? undefined : await saveProfile(ctx, profiling, base);
    const rss = server.measured === undefined ? undefined : treePeakRssBytes(server.measured.pid);
    const died = server.dead();
    if (died !== undefined) throw new Error(`during the run: ${died}`);
    if (r.ops === 0) {
      throw new Error(
        `no replies in the measured window${r.firstError === undefined ? '' : ` (${r.firstError})`}`,
      );
    }
    const windowUs = r.windowMs * 1000;
    const us = (ns: number): number => ns / 1000;
    const backendParts = r.backendCpuMicros;
    const backendCpu = backendParts.every((x) => x !== undefined)
      ? backendParts.reduce((a, b) => a + b, 0)
      : undefined;
    const measuredCpu = r.measuredCpuMicros;
    return {
      ...base,
      ok: true,
      ...about,
      ...keysPerEndpoint,
      opsPerSec: r.ops / (r.windowMs / 1000),
      keysPerSec: r.keys / (r.windowMs / 1000),
      ops: r.ops,
      gets: r.gets,
      sets: r.sets,
      keys: r.keys,
      hits: r.hits,
      misses: r.misses,
      errors: r.errors,
      ...(r.firstError === undefined ? {} : { firstError: r.firstError }),
      ...(workload.idleConnections > 0 ? { idleGets: r.idleGets, idleLate: r.idleLate } : {}),
      connectMs: r.connectMs,
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
      ...(measuredCpu === undefined
        ? {}
        : { cpuUsPerOp: measuredCpu / r.ops, cpuPct: (100 * measuredCpu) / windowUs }),
      ...(rss === undefined ? {} : { peakRssBytes: rss }),
      ...(backendCpu === undefined || backendParts.length === 0
        ? {}
        : {
            backendCpuUsPerOp: backendCpu / r.ops,
            backendCpuPct: (100 * backendCpu) / windowUs,
            backendCpuShares: backendParts.map((x) => (backendCpu > 0 ? x! / backendCpu : NaN)),
          }),
      ...(profile === undefined ? {} : { profile }),
      loadgenCpuUsPerOp: r.loadgenCpuMicros / r.ops,
      loadgenCpuPct: (100 * r.loadgenCpuMicros) / windowUs,
      loadgenSystemCpuPct: (100 * r.loadgenSystemCpuMicros) / windowUs,
      ...(r.machineBusyMicros === undefined ||
      (server.measured !== undefined && measuredCpu === undefined) ||
      backendCpu === undefined
        ? {}
        : {
            otherCpuPct: Math.max(
              0,
              (100 * (r.machineBusyMicros - (measuredCpu ?? 0) - backendCpu - r.loadgenCpuMicros)) / windowUs,
            ),
          }),
    };
  } catch (err) {
    return {
      ...base,
      ok: false,
      error: err instanceof Error ? err.message : String(err),
      ...about,
      ...keysPerEndpoint,
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
    ([k]) => k.startsWith('BENCH_') || ['MEMCACHED_BIN', 'MOXI_BIN', 'NUTCRACKER_BIN'].includes(k),
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
  const names = o.targets.map((t) => t.name);
  const nutcracker = names.some((n) => n.startsWith('nutcracker'))
    ? `; ${m.nutcrackerVersion ?? `${o.nutcrackerBin} (version unknown)`}`
    : '';
  out(
    `servers:  ${m.memcachedVersion ?? `${o.memcachedBin} (version unknown)`}${nutcracker}; ` +
      `moxi ${relative(process.cwd(), o.moxiBin) || o.moxiBin}${m.moxiBuiltAt === undefined ? '' : ` (runs dist/, built ${m.moxiBuiltAt})`}`,
  );
  out(`pinning:  ${pinning.note}`);
  const fd = planFdLimit();
  const most = Math.max(...o.workloads.map(totalConnections));
  out(`fds:      ${fd.note}; most client connections in one run: ${most.toLocaleString('en-US')}`);
  if (fd.effective !== undefined && fd.effective < most + 256) {
    out(
      `NOTE: a NOFILE limit of ${fd.effective} is too low for ${most} connections: expect failed runs ` +
        '(raise the hard limit with ulimit -Hn, or run as root)',
    );
  }
  const sharing = o.targets.filter((t) => t.usesBackends).map((t) => t.name);
  if (sharing.length > 0) {
    out(
      `backends: ${BACKEND_COUNT} memcached (-t 1 -U 0 -m ${o.memoryMb}) per round on fresh ports, shared by that ` +
        `round's ${sharing.join(', ')} runs, stopped after the round`,
    );
  }
  out(
    `plan:     ${o.rounds} rounds x workloads [${o.workloads.map((w) => w.name).join(', ')}] x targets ` +
      `[${o.targets.map((t) => t.name).join(', ')}], ${o.warmupMs / 1000} s warm-up + ${o.durationMs / 1000} s measured per run, ` +
      `load generator ${o.loadgenThreads} thread(s)`,
  );
  for (const w of o.workloads) out(`  workload ${w.name.padEnd(6)} ${w.description}`);
  if (o.targets.some((t) => t.name === 'moxi-t2') && !pinning.note.startsWith('scale')) {
    out(
      '  NOTE: moxi-t2 runs on the same CPUs as every other process under test here, so moxi-t2/moxi shows ' +
        'what -t 2 costs or gains on that CPU set, not how it scales to a second core (see --pin scale)',
    );
  }
  for (const t of o.targets) out(`  target   ${t.name.padEnd(11)} ${t.description}`);
  out();
}

function printSummary(
  summaries: readonly Summary[],
  rs: readonly Ratio[],
  missing: readonly string[],
  runs: readonly RunRecord[],
): void {
  out();
  out(
    'Medians over rounds (ops/s min - max over rounds; cpu, peak RSS = the process under test: the proxy, ' +
      'or the server of a server target, n/a for direct; mc = the memcached backends together; cpu in % of ' +
      'one core; other = CPU used by processes not in the benchmark)',
  );
  out(summaryTable(summaries));
  if (rs.length > 0 || missing.length > 0) {
    out();
    out(
      'Ratios a/b (ratio of medians [range of per-round ratios]; throughput > 1, latency and cpu/op < 1 favour a; ' +
        'cpu/op compares the processes under test, n/a when one side has none)',
    );
    if (rs.length > 0) out(ratioTable(rs));
    for (const m of missing) out(m);
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
        'throughput and tail latency are disturbed there; cpu µs/op is the steadier comparison (or rerun)',
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
  // moxi-t2 is there to show scaling to a second core: `--pin auto` then gives the process under test
  // both CPUs (the "scale" layout) for every target of the run, so moxi and moxi-t2 are compared alike.
  const pinning = planPinning(
    o.pin,
    o.targets.some((t) => t.name === 'moxi-t2'),
  );
  const machine = machineFacts(o);
  const argv = [process.execPath, ...process.argv.slice(1)];
  printHeader(o, machine, pinning, argv);
  out(
    'Per run: ops/s, latency percentiles; proxy (srv for server targets) = CPU per request and share of a ' +
      'core of the process under test, rss = its peak RSS; mc = CPU per request and share of a core of the ' +
      "memcached backends together, then each backend's part of it in %; lg = load generator share of its " +
      'core; other = CPU used by processes outside the benchmark',
  );
  if (o.targets.some((t) => t.name.startsWith('moxi')) && !existsSync(o.moxiBin)) {
    out(`NOTE: ${o.moxiBin} does not exist; the moxi targets will fail`);
  }

  const ctx: RunContext = {
    options: o,
    pinning,
    machine,
    profileDir: join(o.outDir, 'profiles', fileStamp(new Date())),
  };
  /** The current round's backends, started by the first target that asks. */
  let backends: Promise<Backends> | undefined;
  const targetContext: TargetContext = {
    memoryMb: o.memoryMb,
    serverCpus: pinning.serverCpus,
    backendCpus: pinning.backendCpus,
    memcachedBin: o.memcachedBin,
    nutcrackerBin: o.nutcrackerBin,
    moxiBin: o.moxiBin,
    profile: o.profile,
    backends: () =>
      (backends ??= startBackends(targetContext).then((b) => {
        if (!shownArgv.has(' backends')) {
          shownArgv.add(' backends');
          for (const s of b.servers) out(`  started ${s.name}: ${shellQuote(s.process.argv)}`);
        }
        return b;
      })),
  };
  const endRound = (): void => {
    const b = backends;
    backends = undefined;
    if (b !== undefined)
      stopping.push(
        b.then(
          (x) => x.stop(),
          () => undefined,
        ),
      );
  };
  const runs: RunRecord[] = [];
  const broken = new Map<string, string>();
  const failures = new Map<string, number>();
  const shownArgv = new Set<string>();
  const nameWidth = Math.max(...o.targets.map((t) => t.name.length));
  const skipped = (workload: Workload, target: Target, round: number, error: string): RunRecord => ({
    workload: workload.name,
    target: target.name,
    round,
    startedAt: new Date().toISOString(),
    ok: false,
    error,
  });
  for (const workload of o.workloads) {
    for (let round = 1; round <= o.rounds; round++) {
      for (const target of o.targets) {
        if (interrupted) return 130;
        const why = broken.get(target.name);
        let record: RunRecord;
        if (why !== undefined) {
          record = skipped(workload, target, round, `skipped (${why})`);
        } else {
          try {
            record = await runOnce(ctx, targetContext, target, workload, round, (s, endpoints) => {
              if (shownArgv.has(target.name)) return;
              shownArgv.add(target.name);
              if (s.measured !== undefined) out(`  started ${target.name}: ${shellQuote(s.measured.argv)}`);
              if (s.router !== undefined) {
                const split = endpoints.map((e) => `${e.host}:${e.port} (${e.keys?.length ?? 'all'} keys)`);
                out(`  ${target.name}: load generator -> ${split.join(', ')}; routing: ${s.router.name}`);
              }
            });
          } catch (err) {
            if (!(err instanceof StartError)) throw err;
            broken.set(target.name, `did not start: ${err.message}`);
            record = skipped(workload, target, round, `did not start: ${err.message}`);
          }
          if (!record.ok && !broken.has(target.name)) {
            const n = (failures.get(target.name) ?? 0) + 1;
            failures.set(target.name, n);
            if (n >= MAX_FAILED_RUNS)
              broken.set(target.name, `${n} runs failed; last: ${record.error ?? '?'}`);
          }
        }
        runs.push(record);
        out(runLine(record, nameWidth, o.rounds));
        const profile = record.profile;
        if (profile !== undefined) {
          if ('error' in profile) out(`      profile: none (${profile.error})`);
          else for (const line of profileLines(profile.summary, profile.file)) out(line);
        }
      }
      endRound();
    }
  }

  await Promise.all(stopping);
  const targetNames = o.targets.map((t) => t.name);
  const pairs = ratioPairs(targetNames);
  const summaries: Summary[] = [];
  const ratioRows: Ratio[] = [];
  const missing: string[] = [];
  for (const w of o.workloads) {
    for (const t of targetNames) {
      const s = summarize(runs, w.name, t);
      if (s) summaries.push(s);
    }
    const ran = (t: string): boolean => runs.some((r) => r.ok && r.workload === w.name && r.target === t);
    for (const [t, b] of pairs) {
      const absent = [t, b].filter((x) => !ran(x));
      if (absent.length > 0) {
        missing.push(`${w.name.padEnd(8)}  ${t}/${b}: none (${absent.join(' and ')}: no successful run)`);
      }
    }
    ratioRows.push(
      ...ratios(
        runs,
        w.name,
        pairs.filter(([t, b]) => ran(t) && ran(b)),
      ),
    );
  }
  printSummary(summaries, ratioRows, missing, runs);

  if (o.json) {
    const stamp = fileStamp(new Date());
    mkdirSync(o.outDir, { recursive: true });
    const file = join(o.outDir, `${stamp}.json`);
    const doc = {
      format: 'moxi.ts-bench/3',
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
        nutcrackerBin: o.nutcrackerBin,
        moxiBin: o.moxiBin,
      },
      workloads: o.workloads,
      targets: o.targets.map((t) => ({ name: t.name, description: t.description })),
      ratioPairs: pairs.map(([t, b]) => `${t}/${b}`),
      runs,
      summaries,
      ratios: ratioRows,
    };
    writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
    const chartFile = join(o.outDir, `${stamp}.svg`);
    writeFileSync(
      chartFile,
      renderChart(summaries, {
        title: `moxi.ts benchmark, ${doc.finishedAt}${machine.gitCommit === undefined ? '' : ` (commit ${machine.gitCommit})`}`,
        notes: [
          `${machine.cpus} cores (${machine.cpuModel}), node ${machine.node}, ${machine.memcachedVersion ?? 'memcached'}` +
            (machine.nutcrackerVersion === undefined ? '' : `, ${machine.nutcrackerVersion}`),
          `${o.rounds} round(s) of ${o.warmupMs / 1000} s warm-up + ${o.durationMs / 1000} s measured per run; pinning: ${pinning.note}`,
          `data: ${stamp}.json`,
        ],
        workloads: o.workloads.map((w) => w.name),
        targets: targetNames,
      }),
    );
    out();
    const shown = (f: string): string => {
      const rel = relative(process.cwd(), f);
      return rel.startsWith('..') ? f : rel;
    };
    out(`results: ${shown(file)}`);
    out(`chart:   ${shown(chartFile)}`);
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
  removeTempDirsSync();
});

main().then(
  async (code) => {
    await killAllStarted();
    removeTempDirsSync();
    process.exitCode = code;
  },
  async (err: unknown) => {
    await killAllStarted();
    removeTempDirsSync();
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
