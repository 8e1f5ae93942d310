/**
 * Processes the benchmark starts: CPU pinning, servers on free loopback ports, and a registry so that
 * exactly these processes (by pid, never by name) are stopped on normal exit, errors and Ctrl-C.
 */
import { spawn, execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
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
// CPU pinning

export interface Pinning {
  readonly enabled: boolean;
  /** CPUs for the load generator and for the server under test (empty when not pinned). */
  readonly loadgenCpus: readonly number[];
  readonly serverCpus: readonly number[];
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

/**
 * `mode`: "auto" (load generator on the first allowed CPU, server on the second, when taskset exists and
 * at least two CPUs are allowed), "off", or "LG:SRV" with CPU lists (e.g. "0:1", "0,2:1").
 */
export function planPinning(mode: string): Pinning {
  const off = (note: string): Pinning => ({ enabled: false, loadgenCpus: [], serverCpus: [], note });
  if (mode === 'off') return off('off (--pin off)');
  if (!hasTaskset()) return off('off (taskset not found)');
  if (mode !== 'auto') {
    const parts = mode.split(':');
    if (parts.length !== 2) throw new Error(`--pin: expected auto, off or LG:SRV, got "${mode}"`);
    const lg = parts[0] ?? '';
    const srv = parts[1] ?? '';
    const loadgenCpus = parseCpuList(lg);
    const serverCpus = parseCpuList(srv);
    return { enabled: true, loadgenCpus, serverCpus, note: `load generator CPU ${lg}, server CPU ${srv}` };
  }
  const cpus = allowedCpus();
  if (cpus === undefined || cpus.length < 2) {
    return off(`off (${cpus === undefined ? 'allowed CPUs unknown' : 'only one CPU allowed'})`);
  }
  const [lg, srv] = cpus as [number, number];
  return {
    enabled: true,
    loadgenCpus: [lg],
    serverCpus: [srv],
    note: `load generator CPU ${lg}, server CPU ${srv}`,
  };
}

/** The argv that runs `file args` on `cpus` (unchanged when `cpus` is empty). */
export function pinnedArgv(file: string, args: readonly string[], cpus: readonly number[]): string[] {
  return cpus.length === 0 ? [file, ...args] : ['taskset', '-c', cpus.join(','), file, ...args];
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

function randomPort(): number {
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
}

export interface RunningServer {
  readonly name: string;
  readonly port: number;
  readonly process: TrackedProcess;
  readonly pid: number;
}

const ADDR_IN_USE = /address already in use|EADDRINUSE/i;

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
    const deadline = performance.now() + readyTimeoutMs;
    let retry = false;
    while (performance.now() < deadline) {
      if (proc.hasExited()) {
        if (ADDR_IN_USE.test(proc.output)) {
          retry = true;
          lastError = `port ${port} in use`;
          break;
        }
        throw new Error(`${spec.name} ${proc.describeExit()}`);
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
        `${spec.name}: port ${port} not ready after ${readyTimeoutMs} ms; ${proc.output.trim()}`,
      );
    }
    await proc.stop();
  }
  throw new Error(`${spec.name}: no free port after ${PORT_ATTEMPTS} attempts (${lastError})`);
}
