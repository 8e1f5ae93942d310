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
 * The old generation: under large values (the bench's 10-500 KB) V8 kept the old generation's first
 * allocation limit near its few MB of live objects and ran a full, non-incremental mark-compact every
 * 50-200 ms (~10 ms each, "allocation failure"), which was that workload's p99 (15 ms, 3x
 * nutcracker's). Starting it at 16 MB (`--initial-old-space-size=16`) leaves room for incremental
 * marking: about one short (3 ms) finalisation a second, p99 7 ms, a fifth less CPU per request.
 *
 * Both are fixed when the process starts: bin/moxi's first line passes them, -t N workers get them
 * from the primary, and the benchmark starts `node <NODE_FLAGS> bin/moxi` as that line does. When node
 * was started without them (`node bin/moxi`), the new space is kept from growing at run time instead
 * (`--semi-space-growth-factor=1`; V8 versions that no longer allow it simply keep their default), and
 * the old generation keeps V8's default. A size given to node wins.
 */
import v8 from 'node:v8';

export const SEMI_SPACE_FLAG = '--max-semi-space-size=1';
export const OLD_SPACE_FLAG = '--initial-old-space-size=16';
/** What bin/moxi's first line gives node, in that order. */
export const NODE_FLAGS: readonly string[] = [SEMI_SPACE_FLAG, OLD_SPACE_FLAG];

/** Whether node was started with an option matching `pattern` (on its command line or NODE_OPTIONS). */
function given(pattern: RegExp): boolean {
  return [...process.execArgv, process.env['NODE_OPTIONS'] ?? ''].some((arg) => pattern.test(arg));
}

const SEMI_SPACE_GIVEN = /--(max|min)[-_]semi[-_]space[-_]size/;
const OLD_SPACE_GIVEN = /--initial[-_]old[-_]space[-_]size|--initial[-_]heap[-_]size/;

/** Node options for a worker process: this process's, with our heap sizes where none is given. */
export function workerExecArgv(): string[] {
  const argv = [...process.execArgv];
  if (!given(SEMI_SPACE_GIVEN)) argv.push(SEMI_SPACE_FLAG);
  if (!given(OLD_SPACE_GIVEN)) argv.push(OLD_SPACE_FLAG);
  return argv;
}

/** Applied first thing in every moxi.ts process. */
export function tuneHeap(): void {
  if (!given(SEMI_SPACE_GIVEN)) v8.setFlagsFromString('--semi-space-growth-factor=1');
}
