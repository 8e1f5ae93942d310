/**
 * A CPU profile of a running moxi.ts, taken on request (`GET /debug/cpu-profile` on the admin endpoint):
 * V8's sampling profiler, the one `node --cpu-prof` runs from start to exit, over a window the caller
 * chooses, so a proxy serving production traffic can be profiled without a restart. The result is a
 * `.cpuprofile` (JSON), which Chrome DevTools, speedscope and `npm run bench -- --profile` read.
 *
 * The profiler is reached through node:inspector's in-process session: no debugging port is opened. It
 * is loaded on the first request, so a Node built without the inspector runs moxi.ts all the same and
 * only this request fails.
 */

/** The window when the request names none, and the longest one allowed. */
export const PROFILE_SECONDS_DEFAULT = 10;
export const PROFILE_SECONDS_MAX = 120;
/** V8's default sampling interval (as `--cpu-prof-interval`): about 1,000 samples a second. */
const SAMPLING_INTERVAL_US = 1000;

/** Why a profile could not be taken, with the HTTP status the admin endpoint answers with. */
export class CpuProfileError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** A profile, and the process it was taken in. */
export interface CpuProfileCapture {
  readonly pid: number;
  /** The profile as `.cpuprofile` JSON. */
  readonly profile: string;
}

/** The `seconds` of a request: a number of seconds in (0, PROFILE_SECONDS_MAX], or a 400 error. */
export function profileSeconds(text: string | null): number {
  if (text === null || text === '') return PROFILE_SECONDS_DEFAULT;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > PROFILE_SECONDS_MAX) {
    throw new CpuProfileError(
      400,
      `seconds must be a number above 0 and at most ${PROFILE_SECONDS_MAX}, not "${text}"`,
    );
  }
  return seconds;
}

/** One profile at a time per process: V8 has one profiler, and two windows would cost twice. */
let running = false;

/** Samples this process for `seconds` and returns the profile. */
export async function captureCpuProfile(seconds: number): Promise<CpuProfileCapture> {
  if (running) throw new CpuProfileError(409, 'a CPU profile is being taken already; try again after it');
  running = true;
  try {
    let inspector: typeof import('node:inspector/promises');
    try {
      inspector = await import('node:inspector/promises');
    } catch {
      throw new CpuProfileError(501, 'this Node.js has no inspector, so it cannot take CPU profiles');
    }
    const session = new inspector.Session();
    session.connect();
    try {
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
      await session.post('Profiler.start');
      // unref'd: a profile in progress does not keep a shutting-down process alive
      await new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000).unref());
      const { profile } = await session.post('Profiler.stop');
      return { pid: process.pid, profile: JSON.stringify(profile) };
    } finally {
      session.disconnect();
    }
  } finally {
    running = false;
  }
}
