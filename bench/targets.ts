/**
 * The targets table: servers the benchmark can measure. A target starts whatever it needs (a proxy would
 * also start its backends) on free loopback ports and names the one process whose CPU and memory are
 * reported. The first row, memcached, is the baseline every ratio is computed against.
 */
import { startServer, type RunningServer } from './servers.ts';

export interface TargetContext {
  /** Memory limit for the server under test, MB (`-m`). */
  readonly memoryMb: number;
  /** CPUs the server under test is pinned to (empty = not pinned). */
  readonly serverCpus: readonly number[];
  readonly memcachedBin: string;
  /** Path of bin/moxi. */
  readonly moxiBin: string;
}

export interface StartedTarget {
  /** Loopback port the load generator connects to. */
  readonly port: number;
  /** Process measured for CPU and peak RSS (its descendants included). */
  readonly pid: number;
  /** argv of the measured process, for the report. */
  readonly argv: readonly string[];
  /** Whether the measured process is still running. */
  alive(): boolean;
  /** Stops everything this target started. */
  stop(): Promise<void>;
}

export interface Target {
  readonly name: string;
  readonly description: string;
  start(ctx: TargetContext): Promise<StartedTarget>;
}

function fromServer(server: RunningServer): StartedTarget {
  return {
    port: server.port,
    pid: server.pid,
    argv: server.process.argv,
    alive: () => !server.process.hasExited(),
    stop: () => server.process.stop(),
  };
}

/** memcached runs as root only with `-u root`. */
function memcachedUserArgs(): string[] {
  return process.getuid?.() === 0 ? ['-u', 'root'] : [];
}

function startMemcached(name: string, ctx: TargetContext): Promise<StartedTarget> {
  return startServer({
    name,
    cpus: ctx.serverCpus,
    readyTimeoutMs: 5000,
    command: (port) => ({
      file: ctx.memcachedBin,
      args: [
        ...memcachedUserArgs(),
        '-p',
        String(port),
        '-t',
        '1',
        '-U',
        '0',
        '-l',
        '127.0.0.1',
        '-m',
        String(ctx.memoryMb),
      ],
    }),
  }).then(fromServer);
}

export const BASELINE = 'memcached';

export const TARGETS: readonly Target[] = [
  {
    name: 'memcached',
    description: 'real memcached, one worker thread (-t 1)',
    start: (ctx) => startMemcached('memcached', ctx),
  },
  {
    name: 'moxi',
    description: 'bin/moxi as an embedded memcached server (no -z), one event loop (-t 1)',
    start: (ctx) =>
      startServer({
        name: 'moxi',
        cpus: ctx.serverCpus,
        readyTimeoutMs: 15_000,
        command: (port) => ({
          file: process.execPath,
          args: [
            ctx.moxiBin,
            '-p',
            String(port),
            '-U',
            '0',
            '-l',
            '127.0.0.1',
            '-t',
            '1',
            '-m',
            String(ctx.memoryMb),
          ],
        }),
      }).then(fromServer),
  },
  {
    name: 'memcached2',
    description: 'a second real memcached standing in for moxi (validates the harness: ratios ~1.0)',
    start: (ctx) => startMemcached('memcached2', ctx),
  },
];

export function findTarget(name: string): Target | undefined {
  return TARGETS.find((t) => t.name === name);
}
