/**
 * V8 heap settings for a proxy process.
 *
 * The young generation: every request allocates a few KB of short-lived objects, which a scavenge
 * must sweep. With V8's default (semi-spaces growing to 16 MB) a scavenge came every ~25 ms and paused
 * the process 0.6 ms (1.2 ms with 2,000 client connections), and every request in flight waited: that
 * pause was the bench's p99 (get p99 1.4x nutcracker's, conns 2.1x). Semi-spaces kept from growing
 * past their first 1 MB (`--semi-space-growth-factor=1`, set at run time) scavenge about five times as
 * often, each pause a fraction as long: p99 1.0x nutcracker's on both, the same CPU per request, a
 * lower RSS. Giving node `--max-semi-space-size=1` instead, which looks equivalent, measured far worse
 * (bench, pipe p99 15 ms instead of 5, multi-get CPU 62 us instead of 46): it is not used.
 *
 * The old generation: under large values (the bench's 10-500 KB) V8 kept the old generation's first
 * allocation limit near its few MB of live objects and ran a full, non-incremental mark-compact every
 * 50-300 ms (~10 ms each, "allocation failure"; 21 in 5 s), which was that workload's p99 (12-15 ms,
 * 2.5-3x nutcracker's). Starting it at 64 MB (`--initial-old-space-size=64`) leaves room for
 * incremental marking: 5 in 5 s, at most 4 ms each, p99 7 ms, 15% less CPU per request; 16 MB only
 * halved the count. It costs memory only where garbage is promoted (bench peak RSS: 2,000 connections
 * 125 MB, large values 130 MB instead of 112-120). This size is fixed when the process starts:
 * bin/moxi's first line passes it, -t N workers get it from the primary, and the benchmark starts
 * `node <NODE_FLAGS> bin/moxi` as that line does; `node bin/moxi` keeps V8's default. Sizes given to
 * node (command line or NODE_OPTIONS) win over both settings.
 *
 * GC helper threads: a process allowed one CPU (taskset, a cgroup cpuset; os.availableParallelism()
 * reads the affinity mask) gains nothing from V8's parallel scavenge and concurrent ArrayBuffer
 * sweeping: the helpers share that CPU, and each scavenge waits for them, longer when they are
 * preempted by what else runs there (memcached, in the bench). There both are turned off at run time:
 * bench multi-get with moxi pinned to one CPU, scavenge time 470 -> 230 ms in a 6 s run, pauses over
 * 1 ms 23-69 -> 7-13, CPU per request 1.07x -> 1.02x nutcracker's and p99 1.05x -> 0.99x (other
 * workloads unchanged within noise). Either alone did not help (411-482 ms). With more CPUs the helpers
 * run beside the main thread and are kept.
 */
import os from 'node:os';
import v8 from 'node:v8';

export const OLD_SPACE_FLAG = '--initial-old-space-size=64';
/** What bin/moxi's first line gives node. */
export const NODE_FLAGS: readonly string[] = [OLD_SPACE_FLAG];

/** Whether node was started with an option matching `pattern` (on its command line or NODE_OPTIONS). */
function given(pattern: RegExp): boolean {
  return [...process.execArgv, process.env['NODE_OPTIONS'] ?? ''].some((arg) => pattern.test(arg));
}

const SEMI_SPACE_GIVEN = /--(max|min)[-_]semi[-_]space[-_]size/;
const OLD_SPACE_GIVEN = /--initial[-_]old[-_]space[-_]size|--initial[-_]heap[-_]size/;

/** Node options for a worker process: this process's, with the old space size unless one is given. */
export function workerExecArgv(): string[] {
  const argv = [...process.execArgv];
  if (!given(OLD_SPACE_GIVEN)) argv.push(OLD_SPACE_FLAG);
  return argv;
}

const GC_THREADS_GIVEN =
  /--(no-)?(parallel[-_]scavenge|concurrent[-_]array[-_]buffer[-_]sweeping|single[-_]threaded[-_]gc)/;

/** Applied first thing in every moxi.ts process. */
export function tuneHeap(cpus = os.availableParallelism()): void {
  if (!given(SEMI_SPACE_GIVEN)) v8.setFlagsFromString('--semi-space-growth-factor=1');
  if (cpus === 1 && !given(GC_THREADS_GIVEN)) {
    v8.setFlagsFromString('--no-parallel-scavenge');
    v8.setFlagsFromString('--no-concurrent-array-buffer-sweeping');
  }
}
