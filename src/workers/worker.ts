/**
 * One of the -t N worker processes: its own Proxy (own downstream connections) on the ports every
 * worker shares through node:cluster. It builds the proxy from the primary's command line with the
 * same code as the single-process path, applies the REST configurations the primary forwards, and
 * answers `stats proxy` with the numbers of every worker (gathered by the primary over IPC).
 */
import { parseCommandLine, type MoxiOptions } from '../cli/args.ts';
import { applyRestConfig, createProxy } from '../cli/proxy-service.ts';
import { ListenError, type Proxy } from '../proxy/proxy.ts';
import {
  mergeStatsProxySnapshots,
  renderStatsProxy,
  renderStatsProxySnapshot,
  resetStatsProxy,
  statsProxySnapshot,
  type StatsProxySnapshot,
} from '../proxy/stats-proxy.ts';
import { createLogger, type Logger } from '../util/log.ts';
import {
  isMoxiMessage,
  type PrimaryMessage,
  type RestConfigMessage,
  type WorkerInit,
  type WorkerMessage,
} from './messages.ts';

/**
 * How long a client's `stats proxy` waits for the primary's answer before this worker answers with its
 * own numbers alone. The primary gives up on a silent worker after 1 s; this only matters when the
 * primary itself is stuck or gone.
 */
const STATS_ANSWER_TIMEOUT_MS = 2500;
/** How long a leaving worker waits for its proxy to close and the primary to answer before exiting. */
const LEAVE_TIMEOUT_MS = 1000;

function send(message: WorkerMessage): void {
  // the channel closes when the primary goes away; the cluster module then ends this process
  if (process.connected) process.send?.(message);
}

/** Runs this process as a worker: announces itself, then waits for `moxi:init`. */
export function runWorker(): void {
  let worker: WorkerProcess | null = null;
  let leaving = false;
  let primaryAcked: (() => void) | null = null;

  /**
   * Leaves cleanly: closes the proxy (the primary stops handing this process connections), then waits
   * for the primary's answer to `moxi:leaving`: a connection it handed over meanwhile is refused while
   * this process can still say so, and goes to another worker instead of dying here unanswered.
   */
  const leave = (code: number): void => {
    if (leaving) return;
    leaving = true;
    const exit = (): never => process.exit(code);
    setTimeout(exit, LEAVE_TIMEOUT_MS).unref();
    void (async () => {
      await worker?.close();
      await new Promise<void>((resolve) => {
        primaryAcked = resolve;
        send({ type: 'moxi:leaving' });
        if (!process.connected) resolve();
      });
      exit();
    })();
  };

  process.on('message', (m: unknown) => {
    if (!isMoxiMessage(m)) return;
    const message = m as PrimaryMessage;
    if (message.type === 'moxi:init') {
      if (worker !== null) return;
      worker = new WorkerProcess(message.init);
      worker.start(message.init.config);
      return;
    }
    if (message.type === 'moxi:bye') {
      primaryAcked?.();
      return;
    }
    worker?.handle(message);
  });
  // Ctrl-C reaches the whole process group: the primary decides, and stops the workers with SIGTERM
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => {
    leave(0);
  });
  process.on('SIGPIPE', () => undefined);
  // a bug ends this worker (the primary starts another), but without taking new connections with it
  process.on('uncaughtException', (err: Error) => {
    process.stderr.write(`moxi.ts worker ${process.pid}: ${err.stack ?? String(err)}\n`);
    leave(1);
  });
  send({ type: 'moxi:hello' });
}

interface PendingStats {
  readonly arg: string;
  readonly resolve: (text: string) => void;
  readonly timer: NodeJS.Timeout;
}

class WorkerProcess {
  private readonly options: MoxiOptions;
  private readonly log: Logger;
  private readonly proxy: Proxy;
  private readonly slot: number;
  private nextStatsId = 0;
  private readonly pendingStats = new Map<number, PendingStats>();

  constructor(init: WorkerInit) {
    // the same parse as the primary's, from the same bytes (files are not read a second time)
    const parsed = parseCommandLine(init.argv, (path) => {
      if (!Object.hasOwn(init.files, path))
        throw new Error(`ENOENT: no such file or directory, open '${path}'`);
      return Buffer.from(init.files[path], 'base64');
    });
    if (parsed.kind !== 'run') throw new Error(`worker ${init.slot}: the command line does not run a proxy`);
    this.options = { ...parsed.options, threads: init.threads };
    this.slot = init.slot;
    this.log = createLogger(this.options.verbosity).child({ worker: init.slot });
    this.proxy = createProxy(
      this.options,
      this.log,
      (arg) => this.statsProxy(arg),
      (port, bucket, key) => {
        send({ type: 'moxi:forget', port, bucket, key });
      },
    );
  }

  /** Applies the latest configuration (before any later one the primary sends), then binds. */
  start(config: RestConfigMessage | null): void {
    if (config !== null) this.applyConfig(config);
    this.proxy.listen().then(
      () => {
        send({ type: 'moxi:ready' });
      },
      (err: unknown) => {
        this.fail(err);
      },
    );
  }

  handle(message: PrimaryMessage): void {
    switch (message.type) {
      case 'moxi:init':
      case 'moxi:bye':
        return;
      case 'moxi:config':
        this.applyConfig(message);
        return;
      case 'moxi:snapshot':
        send({
          type: 'moxi:snapshot',
          gather: message.gather,
          snapshot: statsProxySnapshot(this.proxy, this.slot),
        });
        return;
      case 'moxi:reset':
        resetStatsProxy(this.proxy);
        send({ type: 'moxi:reset-done', gather: message.gather });
        return;
      case 'moxi:stats':
        this.statsAnswered(message.id, message.snapshots);
        return;
      case 'moxi:forget':
        this.proxy.forgetFromPeer(message.port, message.bucket, message.key);
        return;
      case 'moxi:profile':
        void this.cpuProfile(message.id, message.seconds);
        return;
    }
  }

  /** The admin endpoint (in the primary) asked for a CPU profile of this worker. */
  private async cpuProfile(id: number, seconds: number): Promise<void> {
    const { captureCpuProfile, CpuProfileError } = await import('../admin/cpu-profile.ts');
    try {
      const { profile } = await captureCpuProfile(seconds);
      send({ type: 'moxi:profile', id, profile });
    } catch (err) {
      const status = err instanceof CpuProfileError ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      send({ type: 'moxi:profile', id, error: { status, message } });
    }
  }

  async close(): Promise<void> {
    await this.proxy.close();
    this.log.flush();
  }

  private applyConfig(config: RestConfigMessage): void {
    applyRestConfig(this.proxy, config.document, config.url, this.options, this.log).catch((err: unknown) => {
      this.fail(err);
    });
  }

  /** The primary prints moxi's message once, stops every worker and exits 1, as moxi would. */
  private fail(err: unknown): void {
    const message =
      err instanceof ListenError
        ? err.message
        : err instanceof Error
          ? (err.stack ?? err.message)
          : String(err);
    send({ type: 'moxi:fatal', message });
  }

  /** `stats proxy <arg>` for a client: every worker's numbers, through the primary. */
  private statsProxy(arg: string): Promise<string> {
    return new Promise((resolve) => {
      const id = this.nextStatsId++;
      const timer = setTimeout(() => {
        this.pendingStats.delete(id);
        this.log.warn({ arg }, 'no stats proxy answer from the primary; answering with this worker alone');
        resolve(renderStatsProxy(this.proxy, null, arg));
      }, STATS_ANSWER_TIMEOUT_MS);
      this.pendingStats.set(id, { arg, resolve, timer });
      send({ type: 'moxi:stats', id, arg });
    });
  }

  private statsAnswered(id: number, snapshots: readonly StatsProxySnapshot[]): void {
    const pending = this.pendingStats.get(id);
    if (pending === undefined) return;
    this.pendingStats.delete(id);
    clearTimeout(pending.timer);
    if (pending.arg === 'reset') {
      pending.resolve('OK\r\n');
      return;
    }
    const merged = mergeStatsProxySnapshots(
      snapshots.length > 0 ? snapshots : [statsProxySnapshot(this.proxy, this.slot)],
    );
    pending.resolve(renderStatsProxySnapshot(merged, pending.arg));
  }
}
