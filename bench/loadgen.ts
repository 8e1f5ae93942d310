/**
 * The load generator process, started (and pinned) by run.ts once per measured run. It receives one
 * LoadgenJob over IPC, preloads the key space (each endpoint its own keys), runs the engine(s) through
 * warm-up and the measured window, samples its own, the process under test's and the backends' CPU time
 * at the window's edges, and answers one LoadgenReport. With `threads` > 1 the connections are split over
 * worker threads whose histograms are merged.
 */
import { isMainThread, parentPort, workerData, Worker } from 'node:worker_threads';
import { createHistogram } from 'node:perf_hooks';
import {
  absoluteNow,
  preload,
  runEngine,
  type EngineConfig,
  type EngineEndpoint,
  type EngineResult,
} from './engine.ts';
import { machineBusyMicros, treeCpuMicros } from './proc.ts';
import { totalConnections, type Workload } from './workloads.ts';

export interface LoadgenJob {
  readonly type: 'job';
  /** Where to connect; several endpoints each list the keys they own. */
  readonly endpoints: readonly EngineEndpoint[];
  /** Process under test (proxy or server) whose CPU time is sampled at the window's edges; none for direct. */
  readonly measuredPid: number | undefined;
  /** memcached backends whose CPU time is sampled too, one figure each. */
  readonly backendPids: readonly number[];
  readonly clockTicks: number;
  readonly workload: Workload;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly threads: number;
}

export interface LatencySummary {
  readonly count: number;
  readonly minNs: number;
  readonly meanNs: number;
  readonly p50Ns: number;
  readonly p90Ns: number;
  readonly p99Ns: number;
  readonly p999Ns: number;
  readonly maxNs: number;
}

export interface LoadgenReport {
  readonly type: 'report';
  readonly ops: number;
  readonly gets: number;
  readonly sets: number;
  /** Keys asked by the completed gets and sets (ops for single-key workloads). */
  readonly keys: number;
  /** Keys of gets found / not found. */
  readonly hits: number;
  readonly misses: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  /** Gets of the idle connections (in ops too), and their turns skipped while one was unanswered. */
  readonly idleGets: number;
  readonly idleLate: number;
  readonly unanswered: number;
  /** Measured window as seen by the load generator, ms. */
  readonly windowMs: number;
  /** Time to open every connection (the slowest thread), ms. */
  readonly connectMs: number;
  readonly latency: LatencySummary;
  /** CPU time over the window (user + system), µs; others' are undefined if /proc is unreadable. */
  readonly loadgenCpuMicros: number;
  readonly loadgenSystemCpuMicros: number;
  readonly measuredCpuMicros: number | undefined;
  /** One per backend pid, in the job's order. */
  readonly backendCpuMicros: readonly (number | undefined)[];
  /** Busy CPU time of the whole machine over the window (all CPUs), µs: includes other people's work. */
  readonly machineBusyMicros: number | undefined;
  readonly preloadMs: number;
}

/** Sent once the measured window's times are set (absoluteNow() clock), before the report. */
export interface LoadgenWindow {
  readonly type: 'window';
  readonly startAt: number;
  readonly endAt: number;
}

export interface LoadgenFailure {
  readonly type: 'failure';
  readonly message: string;
}

const CONNECT_TIMEOUT_MS = 10_000;
const PRELOAD_TIMEOUT_MS = 30_000;
/** A preload batch unanswered this long fails the run (a target that accepts but never replies). */
const PRELOAD_STALL_MS = 5000;
const DRAIN_MS = 1000;
/**
 * Time set aside per 1,000 connections for opening them (in batches, see engine.ts) before the warm-up
 * clock starts: only workloads with idle connections open enough of them to need it.
 */
const CONNECT_ALLOWANCE_MS = 250;
/** Worker threads need a moment to start before the warm-up clock runs. */
const WORKER_STARTUP_MS = 200;

function runInWorker(cfg: EngineConfig): Promise<EngineResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: cfg });
    worker.once('message', (r: EngineResult) => {
      resolve(r);
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      reject(new Error(`load generator worker exited with code ${code}`));
    });
  });
}

function sleepUntil(at: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, at - absoluteNow())));
}

async function runJob(job: LoadgenJob): Promise<LoadgenReport> {
  const w = job.workload;
  const preloadStart = performance.now();
  await Promise.all(job.endpoints.map((e) => preload(e, w, PRELOAD_TIMEOUT_MS, PRELOAD_STALL_MS)));
  const preloadMs = performance.now() - preloadStart;

  const threads = Math.max(1, Math.min(job.threads, w.connections));
  // Traffic starts once all of an engine's connections are open, but the window starts at an absolute
  // time shared by every thread: opening 2,000 connections (~0.2 s) would eat into the warm-up, so an
  // allowance for it is added before the window.
  const connectBudgetMs = Math.min(
    CONNECT_TIMEOUT_MS,
    CONNECT_ALLOWANCE_MS * Math.ceil(totalConnections(w) / 1000),
  );
  const measureStartAt =
    absoluteNow() +
    job.warmupMs +
    (threads > 1 ? WORKER_STARTUP_MS : 0) +
    (w.idleConnections > 0 ? connectBudgetMs : 0);
  const measureEndAt = measureStartAt + job.durationMs;
  const window: LoadgenWindow = { type: 'window', startAt: measureStartAt, endAt: measureEndAt };
  process.send?.(window);
  const share = (total: number, t: number): number =>
    Math.floor(total / threads) + (t < total % threads ? 1 : 0);
  const configs: EngineConfig[] = [];
  let firstConnection = 0;
  let firstIdleConnection = 0;
  for (let t = 0; t < threads; t++) {
    const connections = share(w.connections, t);
    const idleConnections = share(w.idleConnections, t);
    configs.push({
      endpoints: job.endpoints,
      firstConnection,
      connections,
      depth: w.depth,
      firstIdleConnection,
      idleConnections,
      idleIntervalMs: w.idleIntervalMs,
      idleIntervalMaxMs: w.idleIntervalMaxMs,
      getRatio: w.getRatio,
      keysPerGet: w.keysPerGet,
      keysPerGetMax: w.keysPerGetMax,
      valueSize: w.valueSize,
      valueSizeMax: w.valueSizeMax,
      keyCount: w.keyCount,
      seed: t + 1,
      measureStartAt,
      measureEndAt,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      drainMs: DRAIN_MS,
    });
    firstConnection += connections;
    firstIdleConnection += idleConnections;
  }

  // CPU samples at the window's edges (the engines toggle counting on their own timers at the same times).
  const pids = [job.measuredPid, ...job.backendPids];
  const sample = (): (number | undefined)[] =>
    pids.map((pid) => (pid === undefined ? undefined : treeCpuMicros(pid, job.clockTicks)));
  const cpu = (async () => {
    await sleepUntil(measureStartAt);
    const lg0 = process.cpuUsage();
    const before = sample();
    const all0 = machineBusyMicros(job.clockTicks);
    await sleepUntil(measureEndAt);
    const lg = process.cpuUsage(lg0);
    const after = sample();
    const all1 = machineBusyMicros(job.clockTicks);
    const used = after.map((a, i) => {
      const b = before[i];
      return a === undefined || b === undefined ? undefined : a - b;
    });
    return {
      loadgenCpuMicros: lg.user + lg.system,
      loadgenSystemCpuMicros: lg.system,
      measuredCpuMicros: used[0],
      backendCpuMicros: used.slice(1),
      machineBusyMicros: all0 === undefined || all1 === undefined ? undefined : all1 - all0,
    };
  })();

  const results = await Promise.all(threads === 1 ? [runEngine(configs[0])] : configs.map(runInWorker));
  const cpuTimes = await cpu;

  const h = createHistogram();
  let ops = 0;
  let gets = 0;
  let sets = 0;
  let keys = 0;
  let idleGets = 0;
  let idleLate = 0;
  let hits = 0;
  let misses = 0;
  let errors = 0;
  let unanswered = 0;
  let windowMs = 0;
  let connectMs = 0;
  let firstError: string | undefined;
  for (const r of results) {
    h.add(r.histogram);
    ops += r.ops;
    gets += r.gets;
    sets += r.sets;
    keys += r.keys;
    idleGets += r.idleGets;
    idleLate += r.idleLate;
    hits += r.hits;
    misses += r.misses;
    errors += r.errors;
    unanswered += r.unanswered;
    windowMs = Math.max(windowMs, r.windowMs);
    connectMs = Math.max(connectMs, r.connectMs);
    firstError ??= r.firstError;
  }
  const count = h.count;
  return {
    type: 'report',
    ops,
    gets,
    sets,
    keys,
    hits,
    misses,
    errors,
    firstError,
    idleGets,
    idleLate,
    unanswered,
    windowMs,
    connectMs,
    latency: {
      count,
      minNs: count > 0 ? h.min : 0,
      meanNs: count > 0 ? h.mean : 0,
      p50Ns: count > 0 ? h.percentile(50) : 0,
      p90Ns: count > 0 ? h.percentile(90) : 0,
      p99Ns: count > 0 ? h.percentile(99) : 0,
      p999Ns: count > 0 ? h.percentile(99.9) : 0,
      maxNs: count > 0 ? h.max : 0,
    },
    ...cpuTimes,
    preloadMs,
  };
}

function reply(msg: LoadgenReport | LoadgenFailure): void {
  process.send?.(msg, () => {
    process.exit(0);
  });
}

if (!isMainThread) {
  // Worker thread: one engine over a share of the connections.
  runEngine(workerData as EngineConfig).then(
    (r) => {
      parentPort!.postMessage(r);
    },
    (err: unknown) => {
      throw err;
    },
  );
} else if (process.send === undefined) {
  process.stderr.write('bench/loadgen: started without an IPC channel; run it through bench/run\n');
  process.exitCode = 2;
} else {
  // The parent going away (Ctrl-C, crash) ends this process too.
  process.on('disconnect', () => process.exit(1));
  process.once('message', (msg: LoadgenJob) => {
    runJob(msg).then(reply, (err: unknown) => {
      reply({ type: 'failure', message: err instanceof Error ? err.message : String(err) });
    });
  });
}
