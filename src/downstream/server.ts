/**
 * One memcached server as the proxy sees it: a few pooled connections per protocol
 * (downstream_conn_max), chosen by the client's affinity so that one client's requests to this server
 * stay on one connection and keep their order, plus the server's health: consecutive connection errors,
 * and a blacklist (connect_max_errors / connect_retry_interval) during which requests fail at once.
 */
import type { CoarseTimer, DeadlineHolder } from '../util/coarse-timer.ts';
import type { Logger } from '../util/log.ts';
import {
  DownstreamConnection,
  FailReason,
  type ConnectionEvents,
  type DownstreamOp,
  type DownstreamProtocol,
} from './connection.ts';

export interface ServerSettings {
  host: string;
  port: number;
  /** downstream_conn_max; 0 = unlimited (we then use one connection per affinity slot up to 64). */
  connMax: number;
  connectTimeout: number;
  downstreamTimeout: number;
  connQueueTimeout: number;
  /** connect_max_errors; 0 = never blacklist. */
  connectMaxErrors: number;
  /** connect_retry_interval, ms. */
  connectRetryInterval: number;
}

/** Connections per protocol when downstream_conn_max is 0 ("unlimited"). */
const UNLIMITED_CONNECTIONS = 64;

/**
 * How much a refused connection adds to the error count. moxi counts the failed connect and then the
 * close of the failed connection, so with connect_max_errors=5 its fourth refused request fails fast.
 */
const CONNECT_FAILURE_WEIGHT = 2;

export interface ServerCounters {
  connects: number;
  connectFailures: number;
  errorCloses: number;
  timeouts: number;
  blacklistedFailures: number;
}

export class DownstreamServer implements DeadlineHolder {
  readonly settings: ServerSettings;
  /** host:port, for logs and stats. */
  readonly ident: string;
  /** The host part of the ident, which moxi puts in client-facing errors (never user or password). */
  readonly errorHost: string;
  readonly counters: ServerCounters = {
    connects: 0,
    connectFailures: 0,
    errorCloses: 0,
    timeouts: 0,
    blacklistedFailures: 0,
  };
  private readonly log: Logger;
  private readonly timer: CoarseTimer;
  private readonly pools: Record<DownstreamProtocol, Array<DownstreamConnection | undefined>> = {
    binary: [],
    ascii: [],
  };
  private errorCount = 0;
  private lastErrorAt = 0;
  private closed = false;
  private readonly events: ConnectionEvents;

  constructor(settings: ServerSettings, log: Logger, timer: CoarseTimer) {
    this.settings = settings;
    this.ident = `${settings.host}:${settings.port}`;
    this.errorHost = settings.host;
    this.log = log;
    this.timer = timer;
    this.events = {
      connected: () => {
        this.counters.connects++;
        this.errorCount = 0;
      },
      connectFailed: (_conn, err) => {
        this.counters.connectFailures++;
        this.noteError(CONNECT_FAILURE_WEIGHT);
        this.log.info({ server: this.ident, err: err.message }, 'downstream connect failed');
      },
      closed: (conn, withError) => {
        if (withError) {
          this.counters.errorCloses++;
          this.noteError(1);
        }
        this.forget(conn);
      },
    };
    timer.add(this);
  }

  /** True while connect_max_errors is exceeded and connect_retry_interval has not passed. */
  get blacklisted(): boolean {
    const { connectMaxErrors, connectRetryInterval } = this.settings;
    if (connectMaxErrors <= 0 || this.errorCount <= connectMaxErrors) return false;
    return performance.now() - this.lastErrorAt < connectRetryInterval;
  }

  private noteError(weight: number): void {
    this.errorCount += weight;
    this.lastErrorAt = performance.now();
    if (this.errorCount > this.settings.connectMaxErrors && this.settings.connectMaxErrors > 0) {
      this.log.warn({ server: this.ident, errors: this.errorCount }, 'downstream server blacklisted');
    }
  }

  /**
   * Sends `op` on the connection for `affinity` (a client's id), creating it if needed. While the server
   * is blacklisted the op fails at once, without a connection attempt.
   */
  send(op: DownstreamOp, protocol: DownstreamProtocol, affinity: number): void {
    if (this.closed) {
      op.onFail(FailReason.Closed, false);
      return;
    }
    if (this.blacklisted) {
      this.counters.blacklistedFailures++;
      op.onFail(FailReason.Blacklisted, false);
      return;
    }
    const slots = this.settings.connMax > 0 ? this.settings.connMax : UNLIMITED_CONNECTIONS;
    const pool = this.pools[protocol];
    const slot = affinity % slots;
    let conn = pool[slot];
    if (conn === undefined || conn.isClosed) {
      conn = new DownstreamConnection(
        {
          host: this.settings.host,
          port: this.settings.port,
          protocol,
          connectTimeout: this.settings.connectTimeout,
          downstreamTimeout: this.settings.downstreamTimeout,
          connQueueTimeout: this.settings.connQueueTimeout,
        },
        this.events,
      );
      pool[slot] = conn;
    }
    conn.send(op);
  }

  private forget(conn: DownstreamConnection): void {
    for (const pool of [this.pools.binary, this.pools.ascii]) {
      const i = pool.indexOf(conn);
      if (i >= 0) pool[i] = undefined;
    }
  }

  checkDeadlines(now: number): void {
    for (const pool of [this.pools.binary, this.pools.ascii]) {
      for (const conn of pool) {
        if (conn !== undefined && conn.load > 0) conn.checkDeadlines(now);
      }
    }
  }

  /** Open connections, for stats. */
  get connectionCount(): number {
    let n = 0;
    for (const pool of [this.pools.binary, this.pools.ascii]) for (const c of pool) if (c?.isReady) n++;
    return n;
  }

  close(): void {
    this.closed = true;
    this.timer.delete(this);
    for (const pool of [this.pools.binary, this.pools.ascii]) {
      for (const conn of pool) conn?.close();
    }
  }
}
