/**
 * The targets table: what the benchmark can measure, and which ratios between them it reports. A target
 * starts whatever it needs on free loopback ports and says where the load generator connects (one
 * endpoint, or several with a key router), which process is under test (its CPU and peak RSS are
 * reported) and which memcached backends it uses.
 *
 * Proxy targets and `direct` share the round's two memcached backends (TargetContext.backends()), so
 * within a round every one of them sees the same servers on the same ports, hence the same ketama split.
 *
 *   direct:      load generator ──▶ memcached A, memcached B   (keys routed by the load generator)
 *   nutcracker:  load generator ──▶ nutcracker ──▶ A, B        (ketama, md5, 1 connection per server)
 *   moxi:        load generator ──▶ node bin/moxi -z ──▶ A, B  (moxi defaults: binary, 4 per server)
 *
 * moxi.ts runs as `./bin/moxi` would: node with the heap flags of its first line (NODE_FLAGS).
 *   moxi-t2:     the same with -t 2: a primary and two worker processes sharing the listening port
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_FLAGS } from '../src/cli/heap.ts';
import { ketamaRouter, type KeyRouter } from './routing.ts';
import {
  LOOPBACK,
  makeTempDir,
  randomPort,
  removeTempDir,
  startServer,
  type RunningServer,
} from './servers.ts';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** Memcached servers shared by the proxy and direct targets of one round. */
export interface Backends {
  readonly servers: readonly RunningServer[];
  /** Why a backend is gone, or undefined while all run. */
  dead(): string | undefined;
  stop(): Promise<void>;
}

export interface TargetContext {
  /** Memory limit of memcached servers and of moxi-server, MB (`-m`). */
  readonly memoryMb: number;
  /** CPUs for the process under test: the proxy, or the server (empty = not pinned). */
  readonly serverCpus: readonly number[];
  /** CPUs for the memcached backends (empty = not pinned). */
  readonly backendCpus: readonly number[];
  readonly memcachedBin: string;
  readonly nutcrackerBin: string;
  /** Path of bin/moxi. */
  readonly moxiBin: string;
  /** The current round's backends: started by the first target that asks, shared by the round. */
  backends(): Promise<Backends>;
  /** Start moxi.ts with its admin endpoint, so that it can be profiled (--profile). */
  readonly profile: boolean;
}

export interface ProcessInfo {
  readonly pid: number;
  readonly argv: readonly string[];
}

export interface StartedTarget {
  /** Where the load generator connects; connection i goes to endpoints[i % length]. */
  readonly endpoints: readonly Endpoint[];
  /** With several endpoints: which one owns a key (the load generator keeps each key on its owner). */
  readonly router: KeyRouter | undefined;
  /** The process under test, whose CPU (descendants included) and peak RSS are reported; none for direct. */
  readonly measured: (ProcessInfo & { readonly role: 'proxy' | 'server' }) | undefined;
  /** memcached backends behind the endpoints: their CPU is reported as "mc". */
  readonly backends: readonly ProcessInfo[];
  /** Why a process of this target is gone, or undefined while all run. */
  dead(): string | undefined;
  /** Stops what this target started itself (not the shared backends). */
  stop(): Promise<void>;
  /** moxi.ts's admin endpoint port (with --profile), where its CPU profile is asked for. */
  readonly adminPort?: number;
}

export interface Target {
  readonly name: string;
  readonly description: string;
  /** Whether it runs on the round's shared memcached backends (proxies and direct). */
  readonly usesBackends: boolean;
  start(ctx: TargetContext): Promise<StartedTarget>;
}

/**
 * `-c` of every memcached and moxi.ts we start: `conns` opens 2,000 client connections (direct: 1,000 per
 * backend), and memcached's default of 1,024 would refuse the rest. The started processes get a NOFILE
 * limit to match (servers.ts, planFdLimit).
 */
export const MAX_CLIENT_CONNECTIONS = 4096;

/** memcached runs as root only with `-u root`. */
function memcachedUserArgs(): string[] {
  return process.getuid?.() === 0 ? ['-u', 'root'] : [];
}

function startMemcached(name: string, ctx: TargetContext, cpus: readonly number[]): Promise<RunningServer> {
  return startServer({
    name,
    cpus,
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
        LOOPBACK,
        '-m',
        String(ctx.memoryMb),
        '-c',
        String(MAX_CLIENT_CONNECTIONS),
      ],
    }),
  });
}

const info = (s: RunningServer): ProcessInfo => ({ pid: s.pid, argv: s.process.argv });
const gone = (s: RunningServer): string | undefined =>
  s.process.hasExited() ? `${s.name} (port ${s.port}) ${s.process.describeExit()}` : undefined;

/** A server target: the load generator talks to one server, which is the process under test. */
function serverTarget(server: RunningServer): StartedTarget {
  return {
    endpoints: [{ host: LOOPBACK, port: server.port }],
    router: undefined,
    measured: { ...info(server), role: 'server' },
    backends: [],
    dead: () => gone(server),
    stop: () => server.process.stop(),
  };
}

/** A proxy target: the load generator talks to the proxy, which talks to the round's backends. */
function proxyTarget(proxy: RunningServer, backends: Backends, stop: () => Promise<void>): StartedTarget {
  return {
    endpoints: [{ host: LOOPBACK, port: proxy.port }],
    router: undefined,
    measured: { ...info(proxy), role: 'proxy' },
    backends: backends.servers.map(info),
    dead: () => gone(proxy) ?? backends.dead(),
    stop,
  };
}

// ---------------------------------------------------------------------------------------------------
// Backends

/** Memcached servers per proxy pool. A later layout may vary this; the runner and reports do not assume 2. */
export const BACKEND_COUNT = 2;

/** Starts BACKEND_COUNT memcached servers (pinned to ctx.backendCpus); all or none. */
export async function startBackends(ctx: TargetContext): Promise<Backends> {
  const started = await Promise.allSettled(
    Array.from({ length: BACKEND_COUNT }, (_, i) =>
      startMemcached(`memcached backend ${i + 1}`, ctx, ctx.backendCpus),
    ),
  );
  const servers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(servers.map((s) => s.process.stop()));
    throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
  }
  return {
    servers,
    dead: () => servers.map(gone).find((why) => why !== undefined),
    stop: async () => {
      await Promise.all(servers.map((s) => s.process.stop()));
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Proxies

/** Like moxi's downstream_timeout default (5000 ms). */
const NUTCRACKER_TIMEOUT_MS = 5000;

/** twemproxy's YAML for one pool: ketama over the backends by "host:port" (no server names). */
export function nutcrackerConfig(listenPort: number, backends: readonly RunningServer[]): string {
  return [
    'moxi_bench:',
    `  listen: ${LOOPBACK}:${listenPort}`,
    '  hash: md5',
    '  distribution: ketama',
    `  timeout: ${NUTCRACKER_TIMEOUT_MS}`,
    '  auto_eject_hosts: false',
    '  server_connections: 1',
    '  servers:',
    ...backends.map((b) => `    - ${LOOPBACK}:${b.port}:1`),
    '',
  ].join('\n');
}

/** nutcracker with its config and log in a private temp dir (removed when it stops). */
async function startNutcracker(name: string, ctx: TargetContext): Promise<StartedTarget> {
  const backends = await ctx.backends();
  const dir = makeTempDir('moxi-bench-nutcracker-');
  const conf = join(dir, 'nutcracker.yml');
  const log = join(dir, 'nutcracker.log');
  try {
    const proxy = await startServer({
      name,
      cpus: ctx.serverCpus,
      readyTimeoutMs: 5000,
      logFile: log,
      command: (port) => {
        writeFileSync(conf, nutcrackerConfig(port, backends.servers));
        writeFileSync(log, '');
        // -s: the stats port must not be the default 22222 (another run may hold it); a clash makes
        // nutcracker exit with "Address already in use", and startServer retries with other ports.
        const args = ['-c', conf, '-o', log, '-s', String(randomPort()), '-a', LOOPBACK];
        return { file: ctx.nutcrackerBin, args };
      },
    });
    return proxyTarget(proxy, backends, async () => {
      await proxy.process.stop();
      removeTempDir(dir);
    });
  } catch (err) {
    removeTempDir(dir);
    throw err;
  }
}

/**
 * With --profile, moxi.ts's admin endpoint on a random port (told to `chosen`), where its CPU profile is
 * asked for. A new port at each start attempt: one in use makes moxi.ts exit as a busy listening port
 * does, and startServer tries again.
 */
function adminArgs(ctx: TargetContext, chosen: (port: number) => void): string[] {
  if (!ctx.profile) return [];
  const port = randomPort();
  chosen(port);
  return ['--admin', `${LOOPBACK}:${port}`];
}

/**
 * moxi.ts in proxy mode with `threads` (-t) event loops; with more than one they are worker processes
 * under a primary, all of them the process under test (CPU and peak RSS are summed over the tree).
 */
async function startMoxiProxy(name: string, threads: number, ctx: TargetContext): Promise<StartedTarget> {
  const backends = await ctx.backends();
  const servers = backends.servers.map((b) => `${LOOPBACK}:${b.port}`).join(',');
  let adminPort: number | undefined;
  const proxy = await startServer({
    name,
    cpus: ctx.serverCpus,
    readyTimeoutMs: 15_000,
    command: (port) => ({
      file: process.execPath,
      // as bin/moxi's first line starts node (`./bin/moxi`)
      args: [
        ...NODE_FLAGS,
        ctx.moxiBin,
        '-z',
        `${port}=${servers}`,
        '-l',
        LOOPBACK,
        '-t',
        String(threads),
        '-c',
        String(MAX_CLIENT_CONNECTIONS),
        ...adminArgs(ctx, (p) => (adminPort = p)),
      ],
    }),
  });
  const target = proxyTarget(proxy, backends, () => proxy.process.stop());
  return adminPort === undefined ? target : { ...target, adminPort };
}

async function startDirect(ctx: TargetContext): Promise<StartedTarget> {
  const backends = await ctx.backends();
  const endpoints = backends.servers.map((b) => ({ host: LOOPBACK, port: b.port }));
  return {
    endpoints,
    router: await ketamaRouter(endpoints),
    measured: undefined,
    backends: backends.servers.map(info),
    dead: () => backends.dead(),
    stop: () => Promise.resolve(),
  };
}

// ---------------------------------------------------------------------------------------------------
// The tables

export const TARGETS: readonly Target[] = [
  {
    name: 'direct',
    usesBackends: true,
    description: `the load generator on the ${BACKEND_COUNT} memcached backends itself, half its connections on each, keys kept on their ketama owner`,
    start: startDirect,
  },
  {
    name: 'nutcracker',
    usesBackends: true,
    description: `twemproxy (Debian nutcracker): ketama, md5, server_connections 1, timeout ${NUTCRACKER_TIMEOUT_MS} ms, over the backends`,
    start: (ctx) => startNutcracker('nutcracker', ctx),
  },
  {
    name: 'moxi',
    usesBackends: true,
    description: `node ${NODE_FLAGS.join(' ')} bin/moxi -z PORT=backends -l 127.0.0.1 -t 1 -c ${MAX_CLIENT_CONNECTIONS} (proxy mode, defaults: binary downstream, 4 connections per server)`,
    start: (ctx) => startMoxiProxy('moxi', 1, ctx),
  },
  {
    name: 'moxi-t2',
    usesBackends: true,
    description: `as moxi with -t 2 (two worker processes sharing the port; CPU and RSS summed over primary and workers)`,
    start: (ctx) => startMoxiProxy('moxi-t2', 2, ctx),
  },
  {
    name: 'nutcracker2',
    usesBackends: true,
    description: 'a second, identical nutcracker (validates the harness for proxies: ratios ~1.0)',
    start: (ctx) => startNutcracker('nutcracker2', ctx),
  },
  {
    name: 'memcached',
    usesBackends: false,
    description: 'one real memcached, one worker thread (-t 1), as a server target',
    start: (ctx) => startMemcached('memcached', ctx, ctx.serverCpus).then(serverTarget),
  },
  {
    name: 'moxi-server',
    usesBackends: false,
    description: 'bin/moxi as an embedded memcached server (-p, no -z), one event loop (-t 1)',
    start: async (ctx) => {
      let adminPort: number | undefined;
      const server = await startServer({
        name: 'moxi-server',
        cpus: ctx.serverCpus,
        readyTimeoutMs: 15_000,
        command: (port) => ({
          file: process.execPath,
          args: [
            ...NODE_FLAGS,
            ctx.moxiBin,
            '-p',
            String(port),
            '-U',
            '0',
            '-l',
            LOOPBACK,
            '-t',
            '1',
            '-m',
            String(ctx.memoryMb),
            '-c',
            String(MAX_CLIENT_CONNECTIONS),
            ...adminArgs(ctx, (p) => (adminPort = p)),
          ],
        }),
      });
      const target = serverTarget(server);
      return adminPort === undefined ? target : { ...target, adminPort };
    },
  },
  {
    name: 'memcached2',
    usesBackends: false,
    description: 'a second real memcached server (validates the harness for servers: ratios ~1.0)',
    start: (ctx) => startMemcached('memcached2', ctx, ctx.serverCpus).then(serverTarget),
  },
];

export const DEFAULT_TARGETS = 'direct,nutcracker,moxi';

/**
 * Ratios reported as [target, baseline]: each pair whose two targets both ran, in this order. When no
 * pair applies, every target is compared with the first one given.
 */
export const RATIOS: readonly (readonly [string, string])[] = [
  ['moxi', 'nutcracker'],
  ['moxi', 'direct'],
  ['moxi-t2', 'moxi'],
  ['nutcracker', 'direct'],
  ['nutcracker2', 'nutcracker'],
  ['moxi-server', 'memcached'],
  ['memcached2', 'memcached'],
];

/** The [target, baseline] pairs to report for the targets run, in run order. */
export function ratioPairs(names: readonly string[]): (readonly [string, string])[] {
  const pairs = RATIOS.filter(([t, b]) => names.includes(t) && names.includes(b));
  if (pairs.length > 0 || names.length < 2) return pairs;
  const first = names[0];
  return names.slice(1).map((t) => [t, first] as const);
}

export function findTarget(name: string): Target | undefined {
  return TARGETS.find((t) => t.name === name);
}
