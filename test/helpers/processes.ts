/**
 * Starting and stopping the servers that integration and e2e tests talk to: real memcached and
 * bin/moxi (embedded server mode), each on a free loopback port.
 *
 * - A server is "ready" once its port accepts connections AND the listening socket belongs to the
 *   process we spawned (or one of its children), so a stranger that grabbed the port in between is
 *   never mistaken for our server. Readiness races the process's early exit; stderr is quoted in the
 *   error. A bind failure (address in use) is retried on a new port.
 * - stop() sends SIGTERM, then SIGKILL after a bound. Only the child processes spawned here are ever
 *   signalled (through their ChildProcess handles, which refuse once the exit was observed).
 * - Everything started is stopped by an `after` hook registered on the file's root test when this
 *   module is imported (a hook registered inside `before` would run right after that hook), and, as
 *   a last resort, SIGKILLed when the test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import { LOOPBACK, PortInUseError, looksLikeAddressInUse, withPortRetry } from './ports.ts';

export const TargetKinds = { moxi: 'moxi', memcached: 'memcached' } as const;
export type TargetKind = (typeof TargetKinds)[keyof typeof TargetKinds];

/** The server under test, from MOXI_TEST_TARGET: `moxi` (default) or `memcached`. */
export function targetKind(): TargetKind {
  const v = (process.env['MOXI_TEST_TARGET'] ?? '').trim();
  if (v === '' || v === 'moxi') return TargetKinds.moxi;
  if (v === 'memcached') return TargetKinds.memcached;
  throw new Error(`MOXI_TEST_TARGET must be "moxi" or "memcached", not ${JSON.stringify(v)}`);
}

export interface ServerOptions {
  /** -m: memory limit in megabytes. */
  readonly memoryMb?: number;
  /** -I: item size limit, memcached syntax ("1m", "512k", "2097152"). */
  readonly maxItemSize?: string;
  /** -c: max simultaneous connections. */
  readonly maxConns?: number;
  /** -t: worker threads. */
  readonly threads?: number;
  /** -v */
  readonly verbose?: boolean;
  /** Appended after the options above. */
  readonly extraArgs?: readonly string[];
  /** How long to wait for the port to accept connections (default 10 s). */
  readonly readyTimeoutMs?: number;
  /** SIGTERM grace period before SIGKILL (default 3 s). */
  readonly stopTimeoutMs?: number;
}

export interface MemoryUsage {
  /** VmRSS, bytes. */
  readonly rss: number;
  /** VmHWM (peak RSS), bytes. */
  readonly peak: number;
}

export interface ServerHandle {
  /** "memcached" or "moxi". */
  readonly kind: TargetKind;
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  /** Full argv after the executable. */
  readonly args: readonly string[];
  stop(): Promise<void>;
  /** Current and peak RSS from /proc/<pid>/status; undefined once exited or without /proc. */
  memory(): MemoryUsage | undefined;
  /** The tail of what the process wrote to stdout and stderr. */
  output(): string;
  exited(): boolean;
}

const OUTPUT_TAIL_BYTES = 64 * 1024;
const READY_POLL_MS = 25;
const CONNECT_PROBE_MS = 500;
const KILL_WAIT_MS = 2000;

/** Arguments common to memcached and moxi for `opts`. */
export function serverOptionArgs(opts: ServerOptions): string[] {
  const a: string[] = [];
  if (opts.memoryMb !== undefined) a.push('-m', String(opts.memoryMb));
  if (opts.maxItemSize !== undefined) a.push('-I', opts.maxItemSize);
  if (opts.maxConns !== undefined) a.push('-c', String(opts.maxConns));
  if (opts.threads !== undefined) a.push('-t', String(opts.threads));
  if (opts.verbose === true) a.push('-v');
  if (opts.extraArgs) a.push(...opts.extraArgs);
  return a;
}

// ---------------------------------------------------------------------------------------------
// Locating executables

function findUp(start: string, accept: (dir: string) => boolean): string | undefined {
  let dir = resolve(start);
  for (let i = 0; i < 12; i++) {
    if (accept(dir)) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
  return undefined;
}

function isRepoRoot(dir: string): boolean {
  const pkg = join(dir, 'package.json');
  if (!existsSync(pkg) || !existsSync(join(dir, 'bin', 'moxi'))) return false;
  try {
    const parsed: unknown = JSON.parse(readFileSync(pkg, 'utf8'));
    return typeof parsed === 'object' && parsed !== null && (parsed as { name?: unknown }).name === 'moxi.ts';
  } catch {
    return false;
  }
}

/**
 * The repository root: the nearest ancestor of this (source or compiled) module holding moxi.ts's
 * package.json and bin/moxi; failing that (tests compiled into an outside --outDir), the nearest
 * such ancestor of the working directory. MOXI_REPO_ROOT overrides both.
 */
export function repoRoot(): string {
  const fromEnv = process.env['MOXI_REPO_ROOT'];
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  const here = dirname(fileURLToPath(import.meta.url));
  const found = findUp(here, isRepoRoot) ?? findUp(process.cwd(), isRepoRoot);
  if (found === undefined) {
    throw new Error(`cannot find the moxi.ts repository root above ${here} or ${process.cwd()}`);
  }
  return found;
}

/** bin/moxi (MOXI_BIN overrides). */
export function moxiBin(): string {
  const fromEnv = process.env['MOXI_BIN'];
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  return join(repoRoot(), 'bin', 'moxi');
}

/** The memcached executable (MEMCACHED_BIN overrides). */
export function memcachedBin(): string {
  const fromEnv = process.env['MEMCACHED_BIN'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return existsSync('/usr/bin/memcached') ? '/usr/bin/memcached' : 'memcached';
}

// ---------------------------------------------------------------------------------------------
// /proc helpers (Linux); every function degrades to "unknown" without /proc.

/** VmRSS and VmHWM of `pid` in bytes, or undefined. */
export function readProcMemory(pid: number): MemoryUsage | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string): number | undefined => {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const rss = kb('VmRSS');
  const peak = kb('VmHWM');
  if (rss === undefined || peak === undefined) return undefined;
  return { rss, peak };
}

/** Socket inodes listening on TCP `port` (IPv4 and IPv6), or undefined without /proc. */
function listeningInodes(port: number): Set<string> | undefined {
  const out = new Set<string>();
  let readAny = false;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    readAny = true;
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const local = cols[1];
      const state = cols[3];
      const portHex = local.slice(local.lastIndexOf(':') + 1);
      if (state === '0A' && parseInt(portHex, 16) === port) out.add(cols[9]);
    }
  }
  return readAny ? out : undefined;
}

function socketInodesOf(pid: number): Set<string> {
  const out = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(m[1]);
    } catch {
      // fd closed meanwhile
    }
  }
  return out;
}

/** Direct and indirect children of `pid` (bounded scan of /proc). */
function descendantsOf(pid: number): number[] {
  const parentOf = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // pid (comm) state ppid ...; comm may hold spaces and parentheses.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(e), Number(rest[1]));
    } catch {
      // process went away
    }
  }
  const found: number[] = [];
  let frontier = [pid];
  for (let depth = 0; depth < 4 && frontier.length > 0; depth++) {
    const next: number[] = [];
    for (const [child, parent] of parentOf) if (frontier.includes(parent)) next.push(child);
    found.push(...next);
    frontier = next;
  }
  return found;
}

/**
 * Whether the socket listening on `port` belongs to `pid` or a descendant; undefined when /proc
 * cannot tell (then readiness relies on the connect probe alone).
 */
export function ownsListeningPort(pid: number, port: number): boolean | undefined {
  const inodes = listeningInodes(port);
  if (inodes === undefined) return undefined;
  if (inodes.size === 0) return false;
  for (const p of [pid, ...descendantsOf(pid)]) {
    for (const inode of socketInodesOf(p)) if (inodes.has(inode)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Spawning

const running = new Set<ServerHandle>();
const children = new Set<ChildProcess>();
/** The child process behind each handle started here (for signals), and the handles paused by pauseServer. */
const childOf = new WeakMap<ServerHandle, ChildProcess>();
const paused = new WeakSet<ServerHandle>();

// Root-level hook: runs when the importing test file has finished all its tests.
after(async () => {
  await stopAll();
});
// Last resort if the test process exits without running hooks (an uncaught error, a server left
// running: children and their pipes are unref'd so they never keep the test process alive), or is
// interrupted (node --test sends SIGTERM on timeout; Ctrl-C sends SIGINT).
function killChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
process.on('exit', killChildren);
for (const [signal, code] of [
  ['SIGTERM', 143],
  ['SIGINT', 130],
] as const) {
  process.once(signal, () => {
    killChildren();
    process.exit(code);
  });
}

/** Stops every server started by this process that is still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop()));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function tryConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolveConnect) => {
    const sock = connect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      resolveConnect(false);
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.destroy();
      resolveConnect(true);
    });
    sock.once('error', () => {
      clearTimeout(timer);
      sock.destroy();
      resolveConnect(false);
    });
  });
}

class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  add(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    while (this.size > OUTPUT_TAIL_BYTES && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

interface SpawnSpec {
  readonly kind: TargetKind;
  readonly command: string;
  readonly argsFor: (port: number) => string[];
  readonly opts: ServerOptions;
}

/** What launch() runs: `command args` in `cwd` (default: ours). */
interface LaunchSpec {
  readonly kind: TargetKind;
  readonly command: string;
  readonly args: string[];
  readonly cwd?: string;
  /** SIGTERM grace period before SIGKILL (default 3 s). */
  readonly stopTimeoutMs?: number;
}

/** A process started by launch(), with its handle (already registered for stopAll and signals). */
interface Launched<H extends ServerHandle> {
  readonly child: ChildProcess;
  readonly handle: H;
  readonly tail: Tail;
  /** Resolves on 'close', which comes after 'exit' once stdout and stderr are drained. */
  readonly closed: Promise<void>;
  /** Whether the process exited or failed to spawn. */
  readonly hasExited: () => boolean;
  /** Waits (at most `ms`) for the exit; whether the process has exited. */
  readonly waitExit: (ms: number) => Promise<boolean>;
  /** The command line, how the process ended (if it did) and its output, for error messages. */
  readonly describe: () => string;
}

/**
 * Spawns `spec.command` with stdout and stderr collected in a tail, and makes its handle: `place`
 * (host and port(s)) plus the common fields; stop() sends SIGTERM, then SIGKILL after a bound.
 * Readiness is the caller's business.
 */
function launch<P extends { readonly host: string; readonly port: number }>(
  spec: LaunchSpec,
  place: P,
): Launched<ServerHandle & P> {
  const { args } = spec;
  const child = spawn(spec.command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: spec.cwd });
  children.add(child);
  child.unref();
  const tail = new Tail();
  for (const pipe of [child.stdout, child.stderr]) {
    pipe.on('data', (b: Buffer) => {
      tail.add(b);
    });
    (pipe as Readable & { unref?: () => void }).unref?.();
  }
  let exitInfo: string | undefined;
  let spawnError: Error | undefined;
  const exitedPromise = new Promise<void>((r) => {
    child.once('exit', (code, signal) => {
      exitInfo = signal !== null ? `signal ${signal}` : `exit code ${code}`;
      children.delete(child);
      r();
    });
  });
  child.once('error', (err) => {
    spawnError = err;
  });
  // 'close' comes after 'exit' once stdout and stderr are drained.
  const closed = new Promise<void>((r) =>
    child.once('close', () => {
      r();
    }),
  );
  const hasExited = (): boolean => exitInfo !== undefined || spawnError !== undefined;
  const waitExit = async (ms: number): Promise<boolean> => {
    if (hasExited()) return true;
    await Promise.race([exitedPromise, sleep(ms)]);
    return hasExited();
  };

  let stopping: Promise<void> | undefined;
  const handle: ServerHandle & P = {
    kind: spec.kind,
    ...place,
    pid: child.pid ?? -1,
    args,
    stop(): Promise<void> {
      stopping ??= (async () => {
        if (!hasExited()) {
          child.kill('SIGTERM');
          if (paused.has(handle)) child.kill('SIGCONT'); // a stopped process only dies once continued
          if (!(await waitExit(spec.stopTimeoutMs ?? 3000))) {
            child.kill('SIGKILL');
            await waitExit(KILL_WAIT_MS);
          }
        }
        running.delete(handle);
      })();
      return stopping;
    },
    memory(): MemoryUsage | undefined {
      return hasExited() || child.pid === undefined ? undefined : readProcMemory(child.pid);
    },
    output: () => tail.text(),
    exited: hasExited,
  };
  running.add(handle);
  childOf.set(handle, child);

  const describe = (): string =>
    `${spec.kind} (${spec.command} ${args.join(' ')})` +
    (spec.cwd !== undefined ? ` in ${spec.cwd}` : '') +
    (exitInfo !== undefined ? ` exited with ${exitInfo}` : '') +
    (spawnError ? ` failed to spawn: ${spawnError.message}` : '') +
    `; output:\n${tail.text()}`;

  return { child, handle, tail, closed, hasExited, waitExit, describe };
}

async function spawnOnPort(spec: SpawnSpec, port: number): Promise<ServerHandle> {
  const { child, handle, tail, closed, hasExited, waitExit, describe } = launch(
    {
      kind: spec.kind,
      command: spec.command,
      args: spec.argsFor(port),
      stopTimeoutMs: spec.opts.stopTimeoutMs,
    },
    { host: LOOPBACK, port },
  );

  const deadline = Date.now() + (spec.opts.readyTimeoutMs ?? 10_000);
  for (;;) {
    if (hasExited()) {
      await Promise.race([closed, sleep(500)]); // let the pipes drain: complete message
      await handle.stop();
      if (looksLikeAddressInUse(tail.text())) throw new PortInUseError(port, describe());
      throw new Error(`server did not start: ${describe()}`);
    }
    if (await tryConnect(LOOPBACK, port, CONNECT_PROBE_MS)) {
      const owner = child.pid === undefined ? false : ownsListeningPort(child.pid, port);
      if (owner !== false) return handle;
      // Someone else is listening there: ours will fail to bind (or already did).
      if (await waitExit(300)) continue;
      await handle.stop();
      throw new PortInUseError(port, `another process listens on ${port}; ${describe()}`);
    }
    if (Date.now() > deadline) {
      await handle.stop();
      throw new Error(`server not accepting connections on ${LOOPBACK}:${port} in time: ${describe()}`);
    }
    await sleep(READY_POLL_MS);
  }
}

async function startServer(spec: SpawnSpec): Promise<ServerHandle> {
  return withPortRetry((port) => spawnOnPort(spec, port));
}

/** Starts a real memcached (TCP only, loopback) with `opts`. */
export function startMemcached(opts: ServerOptions = {}): Promise<ServerHandle> {
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0 ? ['-u', 'root'] : [];
  return startServer({
    kind: TargetKinds.memcached,
    command: memcachedBin(),
    argsFor: (port) => ['-p', String(port), '-l', LOOPBACK, '-U', '0', ...asRoot, ...serverOptionArgs(opts)],
    opts,
  });
}

/**
 * Starts bin/moxi in embedded-server mode: `node bin/moxi -p PORT -l 127.0.0.1 -U 0 <opts> <args>`.
 */
export function startMoxi(args: readonly string[] = [], opts: ServerOptions = {}): Promise<ServerHandle> {
  const bin = moxiBin();
  return startServer({
    kind: TargetKinds.moxi,
    command: process.execPath,
    argsFor: (port) => [
      bin,
      '-p',
      String(port),
      '-l',
      LOOPBACK,
      '-U',
      '0',
      ...serverOptionArgs(opts),
      ...args,
    ],
    opts,
  });
}

/** Starts the server chosen by MOXI_TEST_TARGET with `opts`. */
export function startTarget(opts: ServerOptions = {}): Promise<ServerHandle> {
  return targetKind() === TargetKinds.memcached ? startMemcached(opts) : startMoxi([], opts);
}

// ---------------------------------------------------------------------------------------------
// Additions for the proxy tests: processes listening on several ports (a proxy with one port per
// pool), servers on a fixed host and port (a memcached restarted where a proxy expects it), signals.

/** A started process that listens on one or more TCP ports; `port` is the first. */
export interface MultiPortHandle extends ServerHandle {
  readonly ports: readonly number[];
}

export interface ProcessSpec {
  readonly kind: TargetKind;
  readonly command: string;
  readonly args: readonly string[];
  /** Every port the process must be listening on (and own) before it counts as started. */
  readonly ports: readonly number[];
  /** Where the ports are probed (default 127.0.0.1). */
  readonly host?: string;
  readonly cwd?: string;
  /** readyTimeoutMs and stopTimeoutMs are used; the other fields are the caller's business. */
  readonly opts?: ServerOptions;
  /**
   * Says from the output of a process that exited during startup which port it could not bind
   * (true: one of them), besides the generic EADDRINUSE test; that makes the start a PortInUseError.
   */
  readonly portInUse?: (output: string) => number | boolean | undefined;
}

/**
 * Spawns `spec.command` and waits (bounded) until every port in `spec.ports` accepts connections on
 * `spec.host` and is owned by the process (or a child). Exiting early with "address in use" output
 * throws PortInUseError (no retry here: the caller chose the ports). Stopped like every other server.
 */
export async function spawnServerProcess(spec: ProcessSpec): Promise<MultiPortHandle> {
  const host = spec.host ?? LOOPBACK;
  const opts = spec.opts ?? {};
  if (spec.ports.length === 0) throw new Error('spawnServerProcess: no port to wait for');
  const { child, handle, tail, closed, hasExited, waitExit, describe } = launch(
    {
      kind: spec.kind,
      command: spec.command,
      args: [...spec.args],
      cwd: spec.cwd,
      stopTimeoutMs: opts.stopTimeoutMs,
    },
    { host, port: spec.ports[0], ports: [...spec.ports] },
  );

  const ready = new Set<number>();
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 10_000);
  for (;;) {
    if (hasExited()) {
      await Promise.race([closed, sleep(500)]); // let the pipes drain: complete message
      await handle.stop();
      const text = tail.text();
      const which = spec.portInUse?.(text);
      if (typeof which === 'number') throw new PortInUseError(which, describe());
      if (which === true || looksLikeAddressInUse(text)) throw new PortInUseError(spec.ports[0], describe());
      throw new Error(`server did not start: ${describe()}`);
    }
    for (const port of spec.ports) {
      if (ready.has(port)) continue;
      if (!(await tryConnect(host, port, CONNECT_PROBE_MS))) continue;
      const owner = child.pid === undefined ? false : ownsListeningPort(child.pid, port);
      if (owner !== false) {
        ready.add(port);
        continue;
      }
      // Someone else listens there: ours will fail to bind (or already did).
      if (await waitExit(300)) break;
      await handle.stop();
      throw new PortInUseError(port, `another process listens on ${port}; ${describe()}`);
    }
    if (ready.size === spec.ports.length) return handle;
    if (Date.now() > deadline) {
      await handle.stop();
      const missing = spec.ports.filter((p) => !ready.has(p));
      throw new Error(`not accepting connections on ${host}:${missing.join(', ')} in time: ${describe()}`);
    }
    await sleep(READY_POLL_MS);
  }
}

/**
 * Starts a real memcached on a given host (any loopback address) and port, e.g. to bring a killed
 * server back where a proxy expects it. Throws PortInUseError when that port is taken.
 */
export function startMemcachedAt(
  port: number,
  opts: ServerOptions = {},
  host = LOOPBACK,
): Promise<MultiPortHandle> {
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0 ? ['-u', 'root'] : [];
  return spawnServerProcess({
    kind: TargetKinds.memcached,
    command: memcachedBin(),
    args: ['-p', String(port), '-l', host, '-U', '0', ...asRoot, ...serverOptionArgs(opts)],
    ports: [port],
    host,
    opts,
  });
}

/**
 * Sends `signal` to a server started by this module (never to anything else); false once it exited
 * or for a handle this module did not start.
 */
export function signalServer(server: ServerHandle, signal: NodeJS.Signals): boolean {
  const child = childOf.get(server);
  if (child === undefined || server.exited() || child.exitCode !== null || child.signalCode !== null)
    return false;
  return child.kill(signal);
}

/** SIGSTOP: the server keeps its sockets (connects still complete, the kernel buffers) but answers nothing. */
export function pauseServer(server: ServerHandle): void {
  if (!signalServer(server, 'SIGSTOP'))
    throw new Error(`cannot pause ${server.kind} pid ${server.pid}: not running`);
  paused.add(server);
  waitUntilStopped(server.pid, 1000);
}

/**
 * kill(SIGSTOP) returns before every thread of the process has stopped: on a loaded machine a thread of
 * a multi-threaded memcached can still answer a request sent right after it (seen once in CI). Waits
 * (at most `limitMs`) until /proc shows every thread stopped.
 */
function waitUntilStopped(pid: number, limitMs: number): void {
  const deadline = Date.now() + limitMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (Date.now() < deadline) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      return; // no /proc, or gone
    }
    const allStopped = tasks.every((tid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
        const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        return state === 'T' || state === 't';
      } catch {
        return true; // the thread exited
      }
    });
    if (allStopped) return;
    Atomics.wait(pause, 0, 0, 1);
  }
}

/** SIGCONT after pauseServer. */
export function resumeServer(server: ServerHandle): void {
  paused.delete(server);
  signalServer(server, 'SIGCONT');
}

/** SIGKILL, then wait (bounded) until the process is gone: its sockets are reset, nothing is flushed. */
export async function killServer(server: ServerHandle): Promise<void> {
  signalServer(server, 'SIGKILL');
  paused.delete(server);
  await server.stop();
}
