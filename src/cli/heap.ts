/**
 * V8 heap settings for a proxy process.
 *
 * The young generation: every request allocates a few KB of short-lived objects, and Node gives every
 * socket read its own ArrayBuffer, which a scavenge must sweep. With V8's default (semi-spaces growing
 * to 16 MB) a scavenge came every ~25 ms and paused the process 0.6 ms (1.2 ms with 2,000 client
 * connections), and every request in flight waited: that pause was the bench's p99 (get p99 1.4x
 * nutcracker's, conns 2.1x). Semi-spaces kept at 1 MB scavenge about five times as often, each pause a
 * fraction as long: p99 1.0x nutcracker's on both, the same CPU per request, a lower RSS.
 *
 * The size is fixed when the process starts (`--max-semi-space-size`): bin/moxi's first line passes it
 * and -t N workers get it from the primary. When node was started without it (`node bin/moxi`), the
 * new space is kept from growing at run time instead (`--semi-space-growth-factor=1`; V8 versions
 * that no longer allow it simply keep their default). A semi-space size given to node wins.
 */
import v8 from 'node:v8';

export const SEMI_SPACE_FLAG = '--max-semi-space-size=1';

function semiSpaceGiven(): boolean {
  return [...process.execArgv, process.env['NODE_OPTIONS'] ?? ''].some((arg) =>
    /--(max|min)[-_]semi[-_]space[-_]size/.test(arg),
  );
}

/** Node options for a worker process: this process's, with the semi-space size unless one is given. */
export function workerExecArgv(): string[] {
  return semiSpaceGiven() ? [...process.execArgv] : [...process.execArgv, SEMI_SPACE_FLAG];
}

/** Applied first thing in every moxi.ts process. */
export function tuneHeap(): void {
  if (!semiSpaceGiven()) v8.setFlagsFromString('--semi-space-growth-factor=1');
}
