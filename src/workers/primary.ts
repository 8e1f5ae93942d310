/**
 * The primary of `-t N` (N > 1) in proxy mode: forks N worker processes with node:cluster, each with its
 * own Proxy (own downstream pool) on the same ports, and does what must happen once:
 *
 *  - startup: waits until every worker has bound its ports; a port that cannot be bound prints moxi's
 *    message once and exits 1 with every worker stopped, exactly as the single-process path does;
 *  - cluster mode: follows the REST configuration stream alone (one HTTP stream, one 401 check) and
 *    sends each configuration to every worker; a worker started later gets the latest at once;
 *  - `stats proxy`: gathers every worker's raw counters for the worker a client asked (1 s bound, so a
 *    stuck worker cannot hang the client), and resets them all for `stats proxy reset`;
 *  - a worker that dies is logged and restarted in its slot, with a backoff; the others go on;
 *  - close(): stops the workers (SIGTERM, then SIGKILL after a bound).
 *
 * Scheduling: round-robin (Node's default on Linux, set explicitly): the primary accepts and hands each
 * connection to the next worker. Measured on Node 20 with 2 workers and 40 connections, opened at once:
 * round-robin 20/20, 21/19, 23/17; SCHED_NONE (workers accept from the shared socket) 25/15, 29/11,
 * 34/6, and through moxi.ts itself 39/1 and 3/37; opened one by one: 20/20 every time against 26/14,
 * 20/20, 16/24. memcached clients open their connections in bursts (a pool at start-up) and keep them,
 * so a skewed split stays skewed: SCHED_NONE could leave one core doing all the work. The price: the
 * primary accepts (about 0.1 ms more per new connection, once per connection), and a connection it
 * hands to a worker that has died before the primary noticed (SIGKILL, the OOM killer: a window of
 * about a millisecond) is never accepted nor closed by Node (nodejs/node-v0.x-archive#7928); the
 * client waits until its own timeout. Workers that leave by themselves (SIGTERM, an uncaught
 * exception) close their listeners and wait for the primary's `moxi:bye` first, so that they refuse
 * what was already on its way, and Node hands it to another worker. `reusePort` (Node 22.12+, a socket
 * per worker) would balance by connection hash without the primary, but drops what is queued on a
 * dead worker's socket; Node 20 lacks it.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { MoxiOptions } from '../cli/args.ts';
import { workerExecArgv } from '../cli/heap.ts';
import { followRestConfig, type RestConfigFollower } from '../cli/proxy-service.ts';
import { AUTH_FAILURE_MESSAGE, type RestStreamStatus } from '../config/rest-stream.ts';
import { CpuProfileError, type CpuProfileCapture } from '../admin/cpu-profile.ts';
import { workerSnapshot, type WorkerSnapshot } from '../admin/snapshot.ts';
import type { Logger } from '../util/log.ts';
import {
  isMoxiMessage,
  type PrimaryMessage,
  type RestConfigMessage,
  type WorkerMessage,
} from './messages.ts';

/** How long the primary waits for the workers' counters before answering with those it has. */
const STATS_GATHER_TIMEOUT_MS = 1000;
/** How long past its window a worker's CPU profile may take to arrive (serialising, IPC). */
const PROFILE_SLACK_MS = 10_000;
/** Restart backoff: 100 ms, doubling per quick death, at most 10 s; reset once a worker lived 10 s. */
const RESTART_BASE_MS = 100;
const RESTART_MAX_MS = 10_000;
const STABLE_AFTER_MS = 10_000;
/** SIGTERM'd workers get this long to close before SIGKILL. */
const STOP_GRACE_MS = 1200;
const KILL_WAIT_MS = 300;

/** The compiled (or, under type stripping, source) worker entry next to this module. */
const WORKER_ENTRY = fileURLToPath(
  new URL(`./worker-main${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url),
);

export interface WorkerGroupOptions {
  readonly options: MoxiOptions;
  /** The command line, for the workers to parse again. */
  readonly argv: readonly string[];
  /** Contents (base64) of the files the command line named, by path. */
  readonly files: Readonly<Record<string, string>>;
  readonly log: Logger;
}

/** One of the N places a worker runs in; a restarted worker takes its predecessor's slot. */
interface Slot {
  readonly index: number;
  worker: Worker | null;
  exited: Promise<void>;
  /** Got `moxi:init`: later configurations may be sent to it. */
  inited: boolean;
  /** Its ports are bound. */
  ready: boolean;
  startedAt: number;
  /** Deaths in a row, each within STABLE_AFTER_MS of its start. */
  failures: number;
  restartTimer: NodeJS.Timeout | null;
}

/** One client's `stats proxy`, or one admin endpoint request, being gathered. */
interface Gather {
  /** The worker whose client asked (`stats proxy`), or null for the admin endpoint (`done`). */
  readonly requester: Worker | null;
  /** The requester's id for it. */
  readonly id: number;
  /** Who is asked, the requester first. */
  readonly targets: readonly Worker[];
  readonly waiting: Set<Worker>;
  readonly snapshots: Map<Worker, WorkerSnapshot>;
  readonly timer: NodeJS.Timeout;
  readonly done: ((snapshots: WorkerSnapshot[]) => void) | null;
}

/** A CPU profile asked of a worker for the admin endpoint. */
interface PendingProfile {
  readonly worker: Worker;
  readonly resolve: (capture: CpuProfileCapture) => void;
  readonly reject: (err: CpuProfileError) => void;
  readonly timer: NodeJS.Timeout;
}

export class WorkerGroup {
  private readonly options: MoxiOptions;
  private readonly argv: readonly string[];
  private readonly files: Readonly<Record<string, string>>;
  private readonly log: Logger;
  private readonly slots: Slot[] = [];
  private latestConfig: RestConfigMessage | null = null;
  private rest: RestConfigFollower | null = null;
  private starting = true;
  private stopping = false;
  private onStarted: (() => void) | null = null;
  private nextGather = 0;
  private readonly gathers = new Map<number, Gather>();
  private nextProfile = 0;
  /** CPU profiles asked of workers (admin endpoint), by id: who answers, and what to do with it. */
  private readonly profiles = new Map<number, PendingProfile>();

  constructor(o: WorkerGroupOptions) {
    this.options = o.options;
    this.argv = o.argv;
    this.files = o.files;
    this.log = o.log;
  }

  /** Forks the workers; resolves once all of them listen (then, in cluster mode, follows the REST stream). */
  async start(): Promise<void> {
    cluster.schedulingPolicy = cluster.SCHED_RR;
    cluster.setupPrimary({ exec: WORKER_ENTRY, args: [], execArgv: workerExecArgv(), silent: false });
    const started = new Promise<void>((resolve) => {
      this.onStarted = resolve;
    });
    for (let i = 1; i <= this.options.threads; i++) {
      const slot: Slot = {
        index: i,
        worker: null,
        exited: Promise.resolve(),
        inited: false,
        ready: false,
        startedAt: 0,
        failures: 0,
        restartTimer: null,
      };
      this.slots.push(slot);
      this.fork(slot);
    }
    await started;
    this.starting = false;
    if (this.stopping) return;
    this.log.info({ workers: this.slots.length }, 'workers listening');
    const cfg = this.options.cluster;
    if (cfg?.kind === 'rest') {
      this.rest = followRestConfig(cfg, this.options, this.log, {
        config: (document, url) => {
          this.broadcastConfig({ document, url });
        },
        authFailure: () => {
          this.fatal(AUTH_FAILURE_MESSAGE);
        },
      });
    }
  }

  /** The REST configuration stream the primary follows for the workers (null: none). */
  configSourceStatus(): RestStreamStatus | null {
    return this.rest?.status() ?? null;
  }

  /** Stops following the REST stream and stops every worker. */
  async close(): Promise<void> {
    this.stopping = true;
    await this.rest?.close();
    await this.stopWorkers();
  }

  private fork(slot: Slot): void {
    slot.restartTimer = null;
    const worker = cluster.fork();
    slot.worker = worker;
    slot.inited = false;
    slot.ready = false;
    slot.startedAt = Date.now();
    slot.exited = new Promise((resolve) => {
      worker.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
        this.exited(slot, worker, code, signal);
        resolve();
      });
    });
    worker.on('message', (m: unknown) => {
      if (isMoxiMessage(m)) this.received(slot, worker, m as WorkerMessage);
    });
    worker.on('error', (err: Error) => {
      this.log.warn({ worker: slot.index, err: err.message }, 'worker channel error');
    });
  }

  private received(slot: Slot, worker: Worker, m: WorkerMessage): void {
    if (slot.worker !== worker) return;
    switch (m.type) {
      case 'moxi:hello':
        slot.inited = true;
        this.send(worker, {
          type: 'moxi:init',
          init: {
            argv: this.argv,
            files: this.files,
            slot: slot.index,
            threads: this.options.threads,
            config: this.latestConfig,
          },
        });
        return;
      case 'moxi:ready':
        slot.ready = true;
        if (this.starting) {
          if (this.slots.every((s) => s.ready)) this.onStarted?.();
        } else {
          this.log.info({ worker: slot.index, workerPid: worker.process.pid }, 'worker restarted');
        }
        return;
      case 'moxi:fatal':
        this.fatal(m.message);
        return;
      case 'moxi:stats':
        this.gather(worker, m.id, m.arg);
        return;
      case 'moxi:snapshot':
        this.collected(m.gather, worker, workerSnapshot(m.snapshot));
        return;
      case 'moxi:reset-done':
        this.collected(m.gather, worker, null);
        return;
      case 'moxi:forget':
        for (const other of this.slots) {
          if (other.ready && other.worker !== null && other.worker !== worker) this.send(other.worker, m);
        }
        return;
      case 'moxi:profile':
        this.profiled(worker, m);
        return;
      case 'moxi:leaving':
        // Node processed the worker's listener closes before this message: nothing more goes to it
        this.send(worker, { type: 'moxi:bye' });
        return;
    }
  }

  private exited(slot: Slot, worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    slot.inited = false;
    slot.ready = false;
    for (const [id, p] of this.profiles) {
      if (p.worker !== worker) continue;
      this.profiles.delete(id);
      clearTimeout(p.timer);
      p.reject(new CpuProfileError(503, `worker ${slot.index} exited while it was being profiled`));
    }
    for (const [id, g] of this.gathers) {
      if (g.requester === worker) {
        clearTimeout(g.timer);
        this.gathers.delete(id);
      } else if (g.waiting.delete(worker) && g.waiting.size === 0) {
        this.answer(id);
      }
    }
    if (this.stopping) return;
    const how = signal !== null ? `signal ${signal}` : `exit code ${code}`;
    if (this.starting) {
      // nothing serves yet: fail as the single-process path would on an error at startup
      this.fatal(`worker ${slot.index} (pid ${worker.process.pid}) exited during startup (${how})`);
      return;
    }
    const lived = Date.now() - slot.startedAt;
    slot.failures = lived >= STABLE_AFTER_MS ? 1 : slot.failures + 1;
    const delay = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** (slot.failures - 1));
    this.log.error(
      { worker: slot.index, workerPid: worker.process.pid, exit: how, restartInMs: delay },
      'worker died; restarting it',
    );
    slot.restartTimer = setTimeout(() => {
      if (!this.stopping) this.fork(slot);
    }, delay);
  }

  /** Cluster mode: a configuration for every worker now, and for every worker started later. */
  private broadcastConfig(config: RestConfigMessage): void {
    this.latestConfig = config;
    for (const slot of this.slots) {
      if (slot.worker !== null && slot.inited) this.send(slot.worker, { type: 'moxi:config', ...config });
    }
  }

  /**
   * Every listening worker's `stats proxy` snapshot and CPU and memory, for the admin endpoint (a
   * worker that does not answer within STATS_GATHER_TIMEOUT_MS is left out).
   */
  workerSnapshots(): Promise<WorkerSnapshot[]> {
    return new Promise((resolve) => {
      this.gather(null, 0, '', resolve);
    });
  }

  /**
   * A client of `requester` asked for `stats proxy <arg>`, or the admin endpoint (`requester` null)
   * wants the numbers: ask every listening worker.
   */
  private gather(
    requester: Worker | null,
    id: number,
    arg: string,
    done: ((snapshots: WorkerSnapshot[]) => void) | null = null,
  ): void {
    const targets = [
      ...(requester !== null ? [requester] : []),
      ...this.slots.flatMap((s) =>
        s.ready && s.worker !== null && s.worker !== requester ? [s.worker] : [],
      ),
    ];
    const gatherId = this.nextGather++;
    const g: Gather = {
      requester,
      id,
      targets,
      waiting: new Set(targets),
      snapshots: new Map(),
      done,
      timer: setTimeout(() => {
        this.log.warn(
          { missing: [...(this.gathers.get(gatherId)?.waiting ?? [])].map((w) => w.process.pid) },
          'stats proxy: no answer from some workers in time',
        );
        this.answer(gatherId);
      }, STATS_GATHER_TIMEOUT_MS),
    };
    this.gathers.set(gatherId, g);
    const ask: PrimaryMessage =
      arg === 'reset'
        ? { type: 'moxi:reset', gather: gatherId }
        : { type: 'moxi:snapshot', gather: gatherId };
    for (const w of targets) this.send(w, ask);
    if (targets.length === 0) this.answer(gatherId);
  }

  private collected(gatherId: number, from: Worker, snapshot: WorkerSnapshot | null): void {
    const g = this.gathers.get(gatherId);
    if (g === undefined || !g.waiting.delete(from)) return;
    if (snapshot !== null) g.snapshots.set(from, snapshot);
    if (g.waiting.size === 0) this.answer(gatherId);
  }

  private answer(gatherId: number): void {
    const g = this.gathers.get(gatherId);
    if (g === undefined) return;
    this.gathers.delete(gatherId);
    clearTimeout(g.timer);
    const snapshots = g.targets.flatMap((w) => {
      const s = g.snapshots.get(w);
      return s === undefined ? [] : [s];
    });
    if (g.requester === null) g.done?.(snapshots);
    else this.send(g.requester, { type: 'moxi:stats', id: g.id, snapshots: snapshots.map((s) => s.proxy) });
  }

  /** A CPU profile of `seconds` of worker `index` (1..N), for the admin endpoint. */
  cpuProfile(index: number, seconds: number): Promise<CpuProfileCapture> {
    return new Promise((resolve, reject) => {
      const slot = this.slots[index - 1] as Slot | undefined;
      if (slot === undefined) {
        reject(
          new CpuProfileError(
            404,
            `there is no worker ${index}: moxi.ts runs ${this.slots.length} workers (-t ${this.slots.length})`,
          ),
        );
        return;
      }
      const worker = slot.worker;
      if (worker === null || !slot.ready) {
        reject(new CpuProfileError(503, `worker ${index} is not serving now (restarting?)`));
        return;
      }
      const id = this.nextProfile++;
      const timer = setTimeout(
        () => {
          this.profiles.delete(id);
          reject(new CpuProfileError(503, `worker ${index} sent no profile in time`));
        },
        seconds * 1000 + PROFILE_SLACK_MS,
      );
      this.profiles.set(id, { worker, resolve, reject, timer });
      this.send(worker, { type: 'moxi:profile', id, seconds });
    });
  }

  private profiled(worker: Worker, m: Extract<WorkerMessage, { type: 'moxi:profile' }>): void {
    const p = this.profiles.get(m.id);
    if (p === undefined || p.worker !== worker) return;
    this.profiles.delete(m.id);
    clearTimeout(p.timer);
    if (m.profile !== undefined) p.resolve({ pid: worker.process.pid ?? 0, profile: m.profile });
    else p.reject(new CpuProfileError(m.error?.status ?? 500, m.error?.message ?? 'no profile'));
  }

  private send(worker: Worker, message: PrimaryMessage): void {
    if (worker.isConnected()) worker.send(message);
  }

  /** Prints `message` once, stops everything and exits 1 (moxi's fatal errors). */
  private fatal(message: string): void {
    if (this.stopping) return;
    this.stopping = true;
    process.stderr.write(message + '\n');
    void Promise.allSettled([this.rest?.close(), this.stopWorkers()]).then(() => {
      this.log.flush();
      process.exit(1);
    });
  }

  /** SIGTERM to every worker; SIGKILL to those still there after STOP_GRACE_MS. */
  private async stopWorkers(): Promise<void> {
    this.stopping = true;
    for (const slot of this.slots) {
      if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
      slot.restartTimer = null;
    }
    const alive = this.slots.filter((s) => s.worker !== null && !s.worker.isDead());
    for (const slot of alive) slot.worker?.process.kill('SIGTERM');
    const all = Promise.all(alive.map((s) => s.exited));
    if (await within(all, STOP_GRACE_MS)) return;
    for (const slot of alive) {
      if (slot.worker !== null && !slot.worker.isDead()) slot.worker.process.kill('SIGKILL');
    }
    await within(all, KILL_WAIT_MS);
  }
}

/** Whether `p` settles within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => {
      resolve(false);
    }, ms);
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
