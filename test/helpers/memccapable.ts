/**
 * Debian's `memccapable` (libmemcached-tools): one bounded run against a server, and its per-test
 * verdicts.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

export const MEMCCAPABLE =
  process.env['MEMCCAPABLE_BIN'] ??
  (existsSync('/usr/bin/memccapable') ? '/usr/bin/memccapable' : 'memccapable');

export interface MemccapableRun {
  /** Exit code; null when killed or not started. */
  readonly code: number | null;
  readonly signal: string | null;
  /** stdout, stderr, and why it could not run, if it could not. */
  readonly output: string;
}

export interface MemccapableOptions {
  readonly host: string;
  readonly port: number;
  /** -a: text protocol tests, -b: binary. */
  readonly mode: '-a' | '-b';
  /** -v: print the failing assertion of a failed test. */
  readonly verbose: boolean;
  /** memccapable's own I/O timeout (-t), seconds. */
  readonly ioTimeoutS: number;
  /** The run is SIGKILLed after this. */
  readonly deadlineMs: number;
}

export function runMemccapable(o: MemccapableOptions): Promise<MemccapableRun> {
  const args = [
    '-h',
    o.host,
    '-p',
    String(o.port),
    o.mode,
    ...(o.verbose ? ['-v'] : []),
    '-t',
    String(o.ioTimeoutS),
  ];
  return new Promise((resolve) => {
    execFile(
      MEMCCAPABLE,
      args,
      { timeout: o.deadlineMs, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string; signal?: string | null }) | null;
        resolve({
          code: e === null ? 0 : typeof e.code === 'number' ? e.code : null,
          signal: e?.signal ?? null,
          output: `${stdout}${stderr}${e && typeof e.code === 'string' ? `\n(${e.code}: ${e.message})` : ''}`,
        });
      },
    );
  });
}

/** Per-test verdicts from lines like "ascii set noreply                       [pass]". */
export function memccapableVerdicts(output: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of output.split('\n')) {
    const match = /^((?:ascii|binary) [\w ]+?)\s+\[(\w+)\]\s*$/.exec(line.trim());
    if (match) m.set(match[1], match[2]);
  }
  return m;
}
