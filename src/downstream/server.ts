/**
 * One memcached server as the proxy sees it: a few pooled connections per protocol
 * (downstream_conn_max), chosen by the client so that one client's requests to this server stay on one
 * connection and keep their order, plus the server's health: consecutive connection errors, and a
 * blacklist (connect_max_errors / connect_retry_interval) during which requests fail at once.
 *
 * A client whose requests use both protocols (classic commands over binary, meta commands over text)
 * has two connections to the server, which memcached serves independently. To keep that client's order,
 * a request on the other protocol waits until the client's requests in flight on the first are done.
 */
import { LatencyHistogram } from '../util/latency-histogram.ts';
import type { PoolTimings } from '../util/timing-histogram.ts';
import type { CoarseTimer, DeadlineHolder } from '../util/coarse-timer.ts';
import type { Logger } from '../util/log.ts';
import {
  DownstreamConnection,
  FailReason,
  type ConnectionEvents,
  type DownstreamOp,
  type DownstreamProtocol,
  type Settle,
} from './connection.ts';

/**
 * One client's traffic to this server: its current protocol and connection, ops in flight, and ops held
 * back. Channels are recycled through a free list: a request/response client creates and drops one per
 * request.
 */
class Channel {
  protocol: DownstreamProtocol = 'binary';
  conn: DownstreamConnection | null = null;
  inflight = 0;
  readonly held: Array<readonly [DownstreamOp, DownstreamProtocol]> = [];
  readonly settle: Settle;

  constructor(server: DownstreamServer) {
    this.settle = () => {
      if (--this.inflight === 0) server.channelIdle(this);
    };
  }
}

/**
 * A connection takes new clients while it holds fewer ops than this; past it a new connection is opened
 * (up to downstream_conn_max). Few connections carrying many requests each cost the proxy and memcached
 * fewer reads and writes per request than many half-empty ones; spilling keeps one client's burst from
 * queueing every other client behind it.
 */
const SPILL_LOAD = 128;

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
  /** SASL PLAIN login for binary connections ('' = none) and its auth_timeout. */
  user: string;
  password: string;
  authTimeout: number;
  /** time_stats: the pool's connect and response-time histograms (absent: not counted). */
  timings?: PoolTimings;
}

/** Connections per protocol when downstream_conn_max is 0 ("unlimited"). */
const UNLIMITED_CONNECTIONS = 64;
/**
 * Channels of clients with nothing in flight stay in the map (a client's next request finds its own:
 * adding and deleting a map entry per request cost a hash table rebuild every few thousand requests);
 * past this many entries, idle ones are swept out.
 */
const MIN_SWEEP_AT = 1024;

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
  /** Response times of the requests answered by this server, on any connection. */
  readonly latency = new LatencyHistogram();
  readonly counters: ServerCounters = {
    connects: 0,
    connectFailures: 0,
    errorCloses: 0,
    timeouts: 0,
    blacklistedFailures: 0,
  };
  private readonly log: Logger;
  private readonly timer: CoarseTimer;
  /** Open (or opening) connections per protocol, first-opened first. */
  private readonly pools: Record<DownstreamProtocol, DownstreamConnection[]> = {
    binary: [],
    ascii: [],
  };
  private errorCount = 0;
  private lastErrorAt = 0;
  private closed = false;
  private readonly events: ConnectionEvents;
  private readonly channels = new Map<number, Channel>();
  /** The map size that triggers a sweep of idle channels. */
  private sweepAt = MIN_SWEEP_AT;

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
      connectFailed: (conn, err) => {
        this.forget(conn);
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
   * Sends `op` for `client` (a client connection's id): on the connection that client's requests to
   * this server are in flight on, if any, else on the least busy one (opening one if all are busy),
   * after any of the client's requests on the other protocol are done. While the server is blacklisted
   * the op fails at once, without a connection attempt. False when the op is held back for those.
   */
  send(op: DownstreamOp, protocol: DownstreamProtocol, client: number): boolean {
    let channel = this.channels.get(client);
    if (channel === undefined) {
      channel = new Channel(this);
      this.channels.set(client, channel);
    } else if (channel.held.length > 0 || (channel.inflight > 0 && channel.protocol !== protocol)) {
      channel.held.push([op, protocol]);
      return false;
    }
    this.dispatch(op, protocol, channel);
    if (channel.inflight === 0 && channel.held.length === 0) this.rest(channel);
    return true;
  }

  /** Whether `client` has nothing in flight or held back here (what it sent before has been answered). */
  clientIdle(client: number): boolean {
    const channel = this.channels.get(client);
    return channel === undefined || (channel.inflight === 0 && channel.held.length === 0);
  }

  private dispatch(op: DownstreamOp, protocol: DownstreamProtocol, channel: Channel): void {
    if (this.closed) {
      op.onFail(FailReason.Closed, false);
      return;
    }
    if (this.blacklisted) {
      this.counters.blacklistedFailures++;
      op.onFail(FailReason.Blacklisted, false);
      return;
    }
    // the client's earlier ops here are still in flight: same connection, so replies stay in order
    let conn = channel.inflight > 0 ? channel.conn : null;
    if (conn === null || conn.isClosed) conn = this.pick(protocol);
    channel.conn = conn;
    channel.protocol = protocol;
    channel.inflight++;
    conn.send(op, channel.settle);
  }

  /** The first connection with room, else a new one (up to connMax), else the least loaded. */
  private pick(protocol: DownstreamProtocol): DownstreamConnection {
    const pool = this.pools[protocol];
    let best: DownstreamConnection | null = null;
    for (const conn of pool) {
      if (conn.isClosed) continue;
      const load = conn.load;
      if (load < SPILL_LOAD) return conn;
      if (best === null || load < best.load) best = conn;
    }
    const max = this.settings.connMax > 0 ? this.settings.connMax : UNLIMITED_CONNECTIONS;
    if (best !== null && pool.length >= max) return best;
    const conn = new DownstreamConnection(
      {
        host: this.settings.host,
        port: this.settings.port,
        protocol,
        connectTimeout: this.settings.connectTimeout,
        downstreamTimeout: this.settings.downstreamTimeout,
        connQueueTimeout: this.settings.connQueueTimeout,
        user: this.settings.user,
        password: this.settings.password,
        authTimeout: this.settings.authTimeout,
        latency: this.latency,
        timings: this.settings.timings,
      },
      this.events,
    );
    pool.push(conn);
    return conn;
  }

  /** @internal A client has nothing in flight here: send what it held back, or forget it. */
  channelIdle(channel: Channel): void {
    while (channel.inflight === 0) {
      if (channel.held.length === 0) {
        this.rest(channel);
        return;
      }
      // release the held ops up to the next protocol switch; the rest wait for those to finish
      const protocol = channel.held[0][1];
      while (channel.held.length > 0 && channel.held[0][1] === protocol) {
        const [op] = channel.held.shift()!;
        this.dispatch(op, protocol, channel);
      }
    }
  }

  /** A channel with nothing in flight or held: it stays, bound to no connection, until a sweep. */
  private rest(channel: Channel): void {
    channel.conn = null;
    if (this.channels.size > this.sweepAt) this.sweepChannels();
  }

  private sweepChannels(): void {
    for (const [client, channel] of this.channels) {
      if (channel.inflight === 0 && channel.held.length === 0) this.channels.delete(client);
    }
    // the next sweep when the map has doubled again: sweeping stays linear in requests
    this.sweepAt = Math.max(MIN_SWEEP_AT, 2 * this.channels.size);
  }

  private forget(conn: DownstreamConnection): void {
    for (const pool of [this.pools.binary, this.pools.ascii]) {
      const i = pool.indexOf(conn);
      if (i >= 0) pool.splice(i, 1);
    }
  }

  checkDeadlines(now: number): void {
    for (const pool of [this.pools.binary, this.pools.ascii]) {
      // a copy: a connection that times out leaves the pool while we walk it
      for (const conn of [...pool]) {
        if (conn.load > 0) conn.checkDeadlines(now);
      }
    }
  }

  /** Nothing in flight or waiting on any connection (a retiring server may then be closed). */
  get idle(): boolean {
    for (const channel of this.channels.values())
      if (channel.inflight > 0 || channel.held.length > 0) return false;
    for (const pool of [this.pools.binary, this.pools.ascii])
      for (const c of pool) if (c.load > 0) return false;
    return true;
  }

  /** @internal Clients with a channel here, idle or not (tests). */
  get channelCount(): number {
    return this.channels.size;
  }

  /** Open connections, for stats. */
  get connectionCount(): number {
    let n = 0;
    for (const pool of [this.pools.binary, this.pools.ascii]) for (const c of pool) if (c.isReady) n++;
    return n;
  }

  close(): void {
    this.closed = true;
    this.timer.delete(this);
    for (const pool of [this.pools.binary, this.pools.ascii]) {
      for (const conn of [...pool]) conn.close();
    }
  }
}
