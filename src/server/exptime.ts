/**
 * memcached's EXPTIME_TO_POSITIVE_TIME: a negative exptime from a text command becomes one second past
 * the 30-day boundary, i.e. an absolute time in 1970, which realtime() turns into "already expired".
 */
import { REALTIME_MAXDELTA } from './clock.ts';

export function positiveExptime(exptime: number): number {
  return exptime < 0 ? REALTIME_MAXDELTA + 1 : exptime;
}
