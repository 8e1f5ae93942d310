/**
 * Processes the benchmark starts: CPU pinning, servers on free loopback ports, and registries so that
 * exactly these processes (by pid, never by name) are stopped, and the temporary directories they used
 * removed, on normal exit, errors and Ctrl-C.
 */
import { spawn, execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { portOwnedBy } from './proc.ts';

// ---------------------------------------------------------------------------------------------------
// Registry of started processes

const started = new Set<ChildProcess>();

/** Sends SIGKILL to every started process still running (synchronous: usable in 'exit' handlers). */
export function killAllStartedSync(): ChildProcess[] {
  const killed: ChildProcess[] = [];
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
        killed.push(child);
      } catch {
        // already gone
      }
    }
  }
  started.clear();
  return killed;
}

/** SIGKILLs every started process and waits (bounded) until they are gone, so none is left a zombie. */
export async function killAllStarted(ms = 2000): Promise<void> {
  await Promise.all(killAllStartedSync().map((c) => waitExit(c, ms)));
}

/** Resolves true when `child` has exited, false after `ms`. */
function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone (bounded). */
export async function stopProcess(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    if (!(await waitExit(child, graceMs))) {
      child.kill('SIGKILL');
      await waitExit(child, 2000);
    }
  }
  started.delete(child);
}

// ---------------------------------------------------------------------------------------------------
// Registry of temporary directories (proxy configuration files and logs)

const tempDirs = new Set<string>();

/** Creates a private directory under the system temp dir; removed by removeTempDir or at exit. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  if (!tempDirs.delete(dir)) return;
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // best effort: a leftover directory in /tmp is not worth failing a benchmark for
  }
}

/** Removes every directory made by makeTempDir and not yet removed (synchronous: for 'exit' handlers). */
export function removeTempDirsSync(): void {
  for (const dir of [...tempDirs]) removeTempDir(dir);
}

// ---------------------------------------------------------------------------------------------------
// CPU pinning

export interface Pinning {
  readonly enabled: boolean;
  /** CPUs for the load generator and for the process under test (proxy or server); empty = not pinned. */
  readonly loadgenCpus: readonly number[];
  readonly serverCpus: readonly number[];
  /** CPUs for the memcached backends of the proxy and direct targets (empty = not pinned). */
  readonly backendCpus: readonly number[];
  /** Human-readable summary for the header. */
  readonly note: string;
}

/** Parses a CPU list such as "0-2,5" (the taskset -c / Cpus_allowed_list format). */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const bounds = part.split('-').map(Number);
    const lo = bounds[0] ?? NaN;
    const end = bounds.length === 2 ? (bounds[1] ?? NaN) : lo;
    if (
      bounds.length > 2 ||
      !Number.isInteger(lo) ||
      !Number.isInteger(end) ||
      lo < 0 ||
      end < lo ||
      end - lo > 4096
    ) {
      throw new Error(`bad CPU list "${text}"`);
    }
    for (let c = lo; c <= end; c++) out.push(c);
  }
  return out;
}

function allowedCpus(): number[] | undefined {
  try {
    const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'latin1'));
    return m ? parseCpuList(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore', timeout: 2000 });
    return true;
  } catch {
    return false;
  }
}

function pinningNote(lg: readonly number[], srv: readonly number[], backends: readonly number[]): string {
  const list = (cpus: readonly number[]): string => cpus.join(',');
  const mc =
    backends.length === 0
      ? 'memcached backends not pinned'
      : list(backends) === list(srv)
        ? `memcached backends CPU ${list(backends)} too (the server side of every target shares one core set)`
        : `memcached backends CPU ${list(backends)}`;
  return `load generator CPU ${list(lg)}; proxy or server under test CPU ${list(srv)}; ${mc}`;
}

/**
 * `mode`: "auto" (load generator on the first allowed CPU; the proxy or server under test and the
 * memcached backends on the second; needs taskset and two allowed CPUs), "scale" (the same, except that
 * the process under test may run on both CPUs: what a multi-process proxy needs to show how it scales),
 * "off", or "LG:SRV[:BACKENDS]" with CPU lists (e.g. "0:1", "0:1:1", "0,2:1:none"); BACKENDS defaults
 * to SRV, "none" leaves them unpinned. `autoScale` makes "auto" mean "scale" (moxi-t2 is a target).
 */
export function planPinning(mode: string, autoScale = false): Pinning {
  const off = (note: string): Pinning => ({
    enabled: false,
    loadgenCpus: [],
    serverCpus: [],
    backendCpus: [],
    note,
  });
  if (mode === 'off') return off('off (--pin off)');
  if (!hasTaskset()) return off('off (taskset not found)');
  if (mode !== 'auto' && mode !== 'scale') {
    const parts = mode.split(':');
    if (parts.length < 2 || parts.length > 3) {
      throw new Error(`--pin: expected auto, off or LG:SRV[:BACKENDS], got "${mode}"`);
    }
    const loadgenCpus = parseCpuList(parts[0] ?? '');
    const serverCpus = parseCpuList(parts[1] ?? '');
    const mc = parts.length === 3 ? parts[2] : undefined;
    const backendCpus = mc === undefined ? serverCpus : mc === 'none' ? [] : parseCpuList(mc);
    if (loadgenCpus.length === 0 || serverCpus.length === 0) {
      throw new Error(`--pin: LG and SRV need at least one CPU each, got "${mode}"`);
    }
    return {
      enabled: true,
      loadgenCpus,
      serverCpus,
      backendCpus,
      note: pinningNote(loadgenCpus, serverCpus, backendCpus),
    };
  }
  const cpus = allowedCpus();
  if (cpus === undefined || cpus.length < 2) {
    return off(`off (${cpus === undefined ? 'allowed CPUs unknown' : 'only one CPU allowed'})`);
  }
  const [lg, srv] = cpus as [number, number];
  if (mode === 'scale' || autoScale) {
    const why = mode === 'scale' ? '--pin scale' : 'auto with moxi-t2 among the targets';
    return {
      enabled: true,
      loadgenCpus: [lg],
      serverCpus: [lg, srv],
      backendCpus: [srv],
      note:
        `scale layout (${why}): load generator CPU ${lg}; proxy or server under test CPUs ${lg},${srv} ` +
        `(free to use both cores: it shares CPU ${lg} with the load generator and CPU ${srv} with the ` +
        `backends); memcached backends CPU ${srv}`,
    };
  }
  return {
    enabled: true,
    loadgenCpus: [lg],
    serverCpus: [srv],
    backendCpus: [srv],
    note: pinningNote([lg], [srv], [srv]),
  };
}

// ---------------------------------------------------------------------------------------------------
// File-descriptor limit

/**
 * Open files allowed to every process the benchmark starts. The `conns` workload opens 2,000 client
 * connections: the load generator holds 2,000 sockets, the proxy 2,000 plus its downstream ones, and for
 * direct each memcached 1,000; a common default soft limit of 1,024 would refuse them.
 */
export const WANTED_NOFILE = 16384;

export interface FdLimit {
  /** NOFILE soft (= hard) limit the started processes get, or undefined when they inherit ours. */
  readonly nofile: number | undefined;
  /** The NOFILE soft limit the started processes run with, as far as known. */
  readonly effective: number | undefined;
  /** argv prefix that applies it (`prlimit --nofile=N:N --`), empty when none. */
  readonly prefix: readonly string[];
  readonly note: string;
}

/** Our own NOFILE [soft, hard] from /proc/self/limits ("unlimited" = Infinity), or undefined. */
function ownNofile(): [number, number] | undefined {
  try {
    const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
    if (!m) return undefined;
    const n = (t: string): number => (t === 'unlimited' ? Infinity : Number(t));
    return [n(m[1]), n(m[2])];
  } catch {
    return undefined;
  }
}

function hasPrlimit(): boolean {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore', timeout: 2000 });
    return true;
  } catch {
    return false;
  }
}

let fdLimit: FdLimit | undefined;

/**
 * How started processes get WANTED_NOFILE open files: through `prlimit --nofile=N:N --` (util-linux; it
 * sets the limit on itself and execs the command, so the pid stays the one we spawned). Without root the
 * hard limit cannot be raised: N is then capped at our hard limit.
 */
export function planFdLimit(): FdLimit {
  if (fdLimit !== undefined) return fdLimit;
  const own = ownNofile();
  const ownText = own === undefined ? 'unknown' : `${own[0]} (hard ${own[1]})`;
  if (!hasPrlimit()) {
    fdLimit = {
      nofile: undefined,
      effective: own?.[0],
      prefix: [],
      note: `prlimit not found: started processes inherit NOFILE ${ownText}`,
    };
  } else {
    const root = process.getuid?.() === 0;
    const n = root || own === undefined ? WANTED_NOFILE : Math.min(WANTED_NOFILE, own[1]);
    fdLimit = {
      nofile: n,
      effective: n,
      prefix: ['prlimit', `--nofile=${n}:${n}`, '--'],
      note: `NOFILE ${n} for every started process (prlimit; ours is ${ownText})`,
    };
  }
  return fdLimit;
}

/**
 * The argv that runs `file args` on `cpus` (not pinned when `cpus` is empty), with the open-files limit of
 * planFdLimit(). taskset and prlimit both exec the command: the spawned pid is the command's.
 */
export function pinnedArgv(file: string, args: readonly string[], cpus: readonly number[]): string[] {
  const limited = [...planFdLimit().prefix, file, ...args];
  return cpus.length === 0 ? limited : ['taskset', '-c', cpus.join(','), ...limited];
}

/** Spawns `argv` and registers it for cleanup; stdout/stderr tails are kept (and always drained). */
export function spawnTracked(argv: readonly string[], options: SpawnOptions = {}): TrackedProcess {
  if (argv.length === 0) throw new Error('empty command');
  const [file = '', ...args] = argv;
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  started.add(child);
  child.once('exit', () => started.delete(child));
  const tracked = new TrackedProcess(child, argv);
  child.stdout?.on('data', (b: Buffer) => {
    tracked.appendOutput(b);
  });
  child.stderr?.on('data', (b: Buffer) => {
    tracked.appendOutput(b);
  });
  child.on('error', (err) => {
    tracked.appendOutput(Buffer.from(`spawn error: ${err.message}\n`));
  });
  return tracked;
}

const TAIL_BYTES = 8192;

export class TrackedProcess {
  readonly child: ChildProcess;
  readonly argv: readonly string[];
  private tail = '';

  constructor(child: ChildProcess, argv: readonly string[]) {
    this.child = child;
    this.argv = argv;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  hasExited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Last few KB of stdout+stderr, for error messages. */
  get output(): string {
    return this.tail;
  }

  appendOutput(b: Buffer): void {
    this.tail = (this.tail + b.toString('utf8')).slice(-TAIL_BYTES);
  }

  describeExit(): string {
    const how = this.child.signalCode ?? `code ${this.child.exitCode}`;
    const lines = this.tail
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    // A Node stack trace starts with source context; the "Error: ..." line is the useful one.
    const pick = lines.find((l) => /error/i.test(l)) ?? lines.slice(-3).join(' | ');
    return `exited (${how})${pick === '' ? '' : `: ${pick}`}`;
  }

  stop(): Promise<void> {
    return stopProcess(this.child);
  }
}

// ---------------------------------------------------------------------------------------------------
// Servers on free loopback ports

export const LOOPBACK = '127.0.0.1';
/** Below the ephemeral range (32768+) and above the usual fixed service ports. */
const PORT_MIN = 12000;
const PORT_MAX = 32767;
const PORT_ATTEMPTS = 10;

/** A random port in 12000-32767 (not checked: callers retry when the process reports it in use). */
export function randomPort(): number {
  return PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN + 1));
}

/** Whether nothing listens on 127.0.0.1:port right now (a hint only: the server may still lose a race). */
function portLooksFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => {
      resolve(false);
    });
    srv.listen({ port, host: LOOPBACK, exclusive: true }, () => {
      srv.close(() => {
        resolve(true);
      });
    });
  });
}

/** Whether a TCP connection to 127.0.0.1:port is accepted within `ms`. */
export function canConnect(port: number, ms = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: LOOPBACK });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => {
      done(false);
    }, ms);
    sock.once('connect', () => {
      done(true);
    });
    sock.once('error', () => {
      done(false);
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ServerSpec {
  readonly name: string;
  /** Executable and arguments for a given port. */
  readonly command: (port: number) => { file: string; args: string[] };
  /** CPUs to pin to (empty = not pinned). */
  readonly cpus: readonly number[];
  /** How long to wait for the port to accept connections. */
  readonly readyTimeoutMs?: number;
  /** A log file the process writes instead of stderr (nutcracker -o): read for errors like its output. */
  readonly logFile?: string;
}

export interface RunningServer {
  readonly name: string;
  readonly port: number;
  readonly process: TrackedProcess;
  readonly pid: number;
}

const ADDR_IN_USE = /address already in use|EADDRINUSE/i;

/** The last `lines` non-empty lines of a text file, or '' if it cannot be read. */
function fileTail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .slice(-lines)
      .join(' | ');
  } catch {
    return '';
  }
}

/**
 * Starts a server on a free loopback port below 32768: picks a random port, spawns, and waits until the
 * port accepts connections and (where /proc can tell) the listener belongs to the spawned process. If the
 * process exits complaining that the address is in use, retries on another port (bounded).
 */
export async function startServer(spec: ServerSpec): Promise<RunningServer> {
  const readyTimeoutMs = spec.readyTimeoutMs ?? 15_000;
  let lastError = '';
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = randomPort();
    if (!(await portLooksFree(port))) continue;
    const { file, args } = spec.command(port);
    const proc = spawnTracked(pinnedArgv(file, args, spec.cpus));
    const pid = proc.pid;
    if (pid === undefined) {
      await sleep(50);
      throw new Error(`${spec.name}: could not start ${file}: ${proc.output.trim()}`);
    }
    const log = (): string => (spec.logFile === undefined ? '' : fileTail(spec.logFile, 3));
    const deadline = performance.now() + readyTimeoutMs;
    let retry = false;
    while (performance.now() < deadline) {
      if (proc.hasExited()) {
        if (ADDR_IN_USE.test(proc.output) || ADDR_IN_USE.test(log())) {
          retry = true;
          lastError = `port ${port} in use`;
          break;
        }
        const logged = log();
        throw new Error(`${spec.name} ${proc.describeExit()}${logged === '' ? '' : `; log: ${logged}`}`);
      }
      const owned = portOwnedBy(port, pid);
      if (owned !== false && (await canConnect(port))) {
        if (!proc.hasExited()) return { name: spec.name, port, process: proc, pid };
      }
      await sleep(20);
    }
    if (!retry) {
      await proc.stop();
      throw new Error(
        `${spec.name}: port ${port} not ready after ${readyTimeoutMs} ms; ${proc.output.trim()} ${log()}`.trimEnd(),
      );
    }
    await proc.stop();
  }
  throw new Error(`${spec.name}: no free port after ${PORT_ATTEMPTS} attempts (${lastError})`);
}
