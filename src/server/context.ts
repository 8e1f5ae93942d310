/**
 * What every connection of the embedded server shares: the store, the counters, the settings, and the
 * logger; plus the small interface the protocol handlers use to answer one connection.
 */
import type { Logger } from '../util/log.ts';
import type { OutputQueue } from '../util/output-queue.ts';
import type { Item, Store } from './store.ts';
import type { ServerCounters, ServerSettings } from './stats.ts';

export interface ServerContext {
  readonly store: Store;
  readonly counters: ServerCounters;
  readonly settings: ServerSettings;
  readonly log: Logger;
  /** Whether the listener currently accepts connections (stats accepting_conns). */
  accepting(): boolean;
  /** Lines for `stats conns`. */
  connectionStats(): Array<readonly [string, string | number]>;
}

/** What a protocol handler may do to the connection it answers. */
export interface ReplyTarget {
  readonly out: OutputQueue;
  /** memcached's c->noreply: replies are dropped while set; reset before every command. */
  noreply: boolean;
  /** Seconds of relative time of the last command, for stats conns. */
  lastCommandTime: number;
  /** Releases everything queued for sending (one of memcached's transmit points). */
  commit(): void;
  /**
   * Notes that a queued reply refers to `item` until it is sent, as memcached's reference counts do:
   * incr/decr then cannot rewrite that item in place.
   */
  hold(item: Item): void;
}

/** What a handler wants done with the connection after its reply. */
export const After = {
  Continue: 0,
  /** Send everything queued, then close (quit, binary protocol errors memcached answers and closes on). */
  Close: 1,
  /**
   * Close at once, dropping replies not yet released for sending (memcached's conn_closing: a line too
   * long, an HTTP request, a bad binary magic).
   */
  Abort: 2,
} as const;
export type After = (typeof After)[keyof typeof After];
