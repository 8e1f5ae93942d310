/**
 * What every connection of the embedded server shares: the store, the counters, the settings, and the
 * logger; plus the small interface the protocol handlers use to answer one connection.
 */
import type { Logger } from '../util/log.ts';
import type { OutputQueue } from '../util/output-queue.ts';
import type { Bucket } from './bucket.ts';
import type { Clock } from './clock.ts';
import type { Item, Store } from './store.ts';
import type { ServerCounters, ServerSettings } from './stats.ts';

/** What the whole server shares. */
export interface SharedServerState {
  /** One relative clock for every bucket of the server. */
  readonly clock: Clock;
  readonly counters: ServerCounters;
  readonly settings: ServerSettings;
  readonly log: Logger;
  readonly buckets: ReadonlyMap<string, Bucket>;
  /** SASL PLAIN selects buckets (a cluster node); without it SASL opcodes are unknown, as in memcached. */
  readonly sasl: boolean;
  /** Whether the listener currently accepts connections (stats accepting_conns). */
  accepting(): boolean;
  /** Lines for `stats conns`. */
  connectionStats(): Array<readonly [string, string | number]>;
}

/** What a handler sees: the shared state plus the bucket the connection is in. */
export interface ServerContext extends SharedServerState {
  /** The connection's bucket; null before a SASL login when the server has no "default" bucket. */
  bucket: Bucket | null;
  /** The bucket's store (handlers only run with a bucket). */
  readonly store: Store;
}

/** One connection's context: starts in the "default" bucket (if any) and moves on SASL login. */
export class SessionContext implements ServerContext {
  bucket: Bucket | null;
  private readonly shared: SharedServerState;

  constructor(shared: SharedServerState) {
    this.shared = shared;
    this.bucket = shared.buckets.get('default') ?? null;
  }

  get store(): Store {
    if (this.bucket === null) throw new Error('no bucket selected');
    return this.bucket.store;
  }

  get clock(): Clock {
    return this.shared.clock;
  }

  get counters(): ServerCounters {
    return this.shared.counters;
  }

  get settings(): ServerSettings {
    return this.shared.settings;
  }

  get log(): Logger {
    return this.shared.log;
  }

  get buckets(): ReadonlyMap<string, Bucket> {
    return this.shared.buckets;
  }

  get sasl(): boolean {
    return this.shared.sasl;
  }

  accepting(): boolean {
    return this.shared.accepting();
  }

  connectionStats(): Array<readonly [string, string | number]> {
    return this.shared.connectionStats();
  }
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
