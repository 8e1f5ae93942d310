/**
 * memcached's notion of time: whole seconds relative to a process start placed 62 seconds in the past
 * (so relative times are never 0, which means "never"), and its conversion of client exptimes.
 */

/** Seconds in 30 days: larger exptimes are absolute Unix times. */
export const REALTIME_MAXDELTA = 60 * 60 * 24 * 30;

/** memcached starts its relative clock ITEM_UPDATE_INTERVAL + 2 seconds before the real start. */
const START_OFFSET = 62;

export class Clock {
  /** Unix time (seconds) that relative time 0 stands for. */
  readonly processStarted: number;
  private readonly startedMs: number;
  private readonly now: () => number;

  /**
   * `now` is a monotonic millisecond clock (so a wall-clock step does not expire or revive items);
   * `wallNow` places relative time 0 in Unix time, for absolute exptimes and `stats time`.
   */
  constructor(now: () => number = () => performance.now(), wallNow: () => number = Date.now) {
    this.now = now;
    this.startedMs = now();
    this.processStarted = Math.floor(wallNow() / 1000) - START_OFFSET;
  }

  /**
   * The current relative time. memcached ticks once a second from its own start, not on wall-clock
   * second boundaries; so do we.
   */
  current(): number {
    return START_OFFSET + Math.floor((this.now() - this.startedMs) / 1000);
  }

  /** Unix time now, in seconds, as `stats time` reports it. */
  unixNow(): number {
    return this.processStarted + this.current();
  }

  /**
   * A client exptime (seconds, int32) as a relative time: 0 never expires, negatives are already
   * expired, up to 30 days is relative to now, beyond that an absolute Unix time.
   */
  realtime(exptime: number): number {
    if (exptime < 0) exptime = REALTIME_MAXDELTA + 1;
    if (exptime === 0) return 0;
    if (exptime > REALTIME_MAXDELTA) {
      if (exptime <= this.processStarted) return 1;
      return exptime - this.processStarted;
    }
    return exptime + this.current();
  }
}
