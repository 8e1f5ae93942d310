/**
 * Linux /proc readers for the benchmark: CPU time and peak RSS of a process tree, and which process owns
 * a listening port. Every reader degrades to "unknown" (undefined / empty) off Linux or when a process is
 * gone, so the runner can still print throughput and latency.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Kernel clock ticks per second (utime/stime unit); 100 on practically every Linux. */
export function clockTicksPerSecond(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

/** `pid` and all its live descendants (threads' children included), at most `limit` processes. */
export function processTree(pid: number, limit = 256): number[] {
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0 && out.length < limit) {
    const p = todo.pop()!;
    out.push(p);
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      const kids = readText(`/proc/${p}/task/${tid}/children`);
      if (kids === undefined) continue;
      for (const k of kids.split(' ')) if (k !== '' && k !== '\n') todo.push(Number(k));
    }
  }
  return out;
}

/** utime + stime of one process in clock ticks, or undefined if it cannot be read. */
export function cpuTicks(pid: number): number | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // Field 2 (comm) may hold spaces and parentheses: count fields from the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? utime + stime : undefined;
}

/** CPU microseconds used so far by `pid` and its descendants, or undefined if `pid` is unreadable. */
export function treeCpuMicros(pid: number, ticksPerSecond: number): number | undefined {
  let total = 0;
  let any = false;
  for (const p of processTree(pid)) {
    const t = cpuTicks(p);
    if (t === undefined) continue;
    total += t;
    any = true;
  }
  return any ? (total * 1e6) / ticksPerSecond : undefined;
}

/** Peak resident set size (VmHWM) in bytes of one process, or undefined. */
export function peakRssBytes(pid: number): number | undefined {
  const status = readText(`/proc/${pid}/status`);
  const m = status === undefined ? null : /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** Sum of VmHWM over `pid` and its descendants (an upper bound of the tree's peak), or undefined. */
export function treePeakRssBytes(pid: number): number | undefined {
  let total = 0;
  let any = false;
  for (const p of processTree(pid)) {
    const b = peakRssBytes(p);
    if (b === undefined) continue;
    total += b;
    any = true;
  }
  return any ? total : undefined;
}

/** Socket inodes listening on TCP `port` (any address), or undefined when /proc/net/tcp is unreadable. */
export function listeningInodes(port: number): Set<string> | undefined {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  let readable = false;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = readText(file);
    if (text === undefined) continue;
    readable = true;
    for (const line of text.split('\n')) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue;
      if (f[1].endsWith(`:${portHex}`)) inodes.add(f[9]);
    }
  }
  return readable ? inodes : undefined;
}

/**
 * Whether the TCP listener on `port` belongs to `pid` or one of its descendants: true / false, or
 * undefined when /proc cannot tell (then the caller falls back to "accepts connections").
 */
export function portOwnedBy(port: number, pid: number): boolean | undefined {
  const inodes = listeningInodes(port);
  if (inodes === undefined) return undefined;
  if (inodes.size === 0) return false;
  for (const p of processTree(pid)) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`/proc/${p}/fd/${fd}`);
      } catch {
        continue;
      }
      if (link.startsWith('socket:[') && inodes.has(link.slice(8, -1))) return true;
    }
  }
  return false;
}

/**
 * Busy CPU time of the whole machine so far (all CPUs, user + nice + system + irq + softirq + steal), µs,
 * or undefined. The difference over a window, minus our own processes, is what other work took.
 */
export function machineBusyMicros(ticksPerSecond: number): number | undefined {
  const stat = readText('/proc/stat');
  if (stat === undefined || !stat.startsWith('cpu ')) return undefined;
  const f = stat.slice(4, stat.indexOf('\n')).trim().split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal [guest guest_nice (already in user/nice)]
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return Number.isFinite(busy) ? (busy * 1e6) / ticksPerSecond : undefined;
}
