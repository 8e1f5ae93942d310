/**
 * One proxy pool: a `-z PORT=...` section, or one bucket of a cluster. It knows where its keys go (the
 * current routing snapshot), its downstream servers, the behaviors that govern them, and admission: at
 * most downstream_max requests in flight; more wait in the wait queue, and one that waits longer than
 * wait_queue_timeout is answered "SERVER_ERROR proxy wait queue timeout".
 *
 * A cluster reconfigures a pool live: a new snapshot (router + servers) replaces the old one for new
 * requests, while requests in flight finish on the snapshot they started with; servers that stay keep
 * their connections, servers that leave are closed once idle. A bucket that disappears is shut down:
 * its snapshot has no router, and requests are answered "SERVER_ERROR proxy out of downstreams".
 */
import type { Behaviors } from '../config/behaviors.ts';
import { MemcachedA2bErrors, MoxiA2bErrors, type A2bErrorTexts } from '../protocol/wire-errors.ts';
import { FailReason, type DownstreamProtocol } from '../downstream/connection.ts';
import { DownstreamServer } from '../downstream/server.ts';
import type { PoolRouter } from '../routing/router.ts';
import type { CoarseTimer, DeadlineHolder } from '../util/coarse-timer.ts';
import type { Logger } from '../util/log.ts';
import type { KeyList } from '../util/key-list.ts';
import { RingQueue } from '../util/ring-queue.ts';
import { TimingHistogram, type PoolTimings } from '../util/timing-histogram.ts';
import { CommandStats } from './command-stats.ts';
import { FrontCache } from './front-cache.ts';
import type { BinaryKeyedRequest } from './b2b.ts';
import type { MultiGetRequest } from './multiget.ts';
import { UnsentGets } from './unsent-gets.ts';

/** Key hashes of the multi-get being routed (grown as needed, reused by every one). */
let keyHashes = new Uint32Array(128);

/** The routing a request uses from start to end: a router and the servers its indexes name. */
export class PoolConfig {
  readonly router: PoolRouter | null;
  readonly servers: readonly DownstreamServer[];
  /**
   * Routes are immutable and there are few distinct ones (a server index, or a vBucket), so each is made
   * once: every key of a multi-get needs one, and an object per key showed in the profile.
   */
  private readonly serverRoutes: Route[] = [];
  private readonly vbucketRoutes: Array<Route | undefined> = [];
  private readonly noRoute: Route;

  constructor(router: PoolRouter | null, servers: readonly DownstreamServer[]) {
    this.router = router;
    this.servers = servers;
    this.noRoute = { config: this, index: -1, vbucket: 0 };
    if (router?.kind === 'ketama') {
      for (let i = 0; i < router.servers.length; i++)
        this.serverRoutes.push({ config: this, index: i, vbucket: 0 });
    }
  }

  /** Where `key` goes: its server's index (-1 when no server owns it) and vBucket id (0 for ketama). */
  route(key: Buffer): Route {
    const router = this.router;
    if (router === null) return this.noRoute;
    if (router.kind === 'vbucket') {
      const vbucket = router.vbucketOf(key);
      // the map learns new masters from NOT_MY_VBUCKET replies, so a kept route is checked
      const index = router.masterOf(vbucket);
      const kept = this.vbucketRoutes[vbucket];
      if (kept !== undefined && kept.index === index) return kept;
      return (this.vbucketRoutes[vbucket] = { config: this, index, vbucket });
    }
    const index = router.serverIndex(key);
    return index < 0 ? this.noRoute : this.serverRoutes[index];
  }

  /** route() of the key `start` to `end` of `source`; no view of it is made for a host list. */
  routeIn(source: Buffer, start: number, end: number): Route {
    const router = this.router;
    if (router?.kind !== 'ketama') return this.route(source.subarray(start, end));
    const index = router.serverIndex(source, start, end);
    return index < 0 ? this.noRoute : this.serverRoutes[index];
  }

  /** route() of each of `keys`, into `routes` (at least as long). */
  routeAll(keys: KeyList, routes: Route[]): void {
    const router = this.router;
    const n = keys.length;
    if (router?.kind === 'ketama' && router.servers.length > 1) {
      if (keyHashes.length < n) keyHashes = new Uint32Array(Math.max(n, 2 * keyHashes.length));
      router.keyHashes(keys, keyHashes);
      for (let i = 0; i < n; i++) routes[i] = this.serverRoutes[router.serverForHash(keyHashes[i])];
      return;
    }
    for (let i = 0; i < n; i++) routes[i] = this.route(keys.key(i));
  }

  server(index: number): DownstreamServer | undefined {
    return index >= 0 ? this.servers[index] : undefined;
  }
}

export interface Route {
  readonly config: PoolConfig;
  readonly index: number;
  readonly vbucket: number;
}

/** A request waiting for admission. */
export interface Admission {
  /** Called when the request may run. */
  start(): void;
  /** Called instead when it waited too long. */
  timedOut(): void;
}

interface Waiting {
  admission: Admission;
  since: number;
}

/** Counters for `stats proxy` (moxi's pstd_stats names where they exist). */
export class PoolCounters {
  numUpstream = 0;
  totUpstream = 0;
  totRequests = 0;
  totDownstreamTimeouts = 0;
  totWaitQueueTimeouts = 0;
  totDownstreamConnectFailures = 0;
  totDownstreamClosed = 0;
  /** moxi's tot_downstream_conn_queue_timeout: waited longer than downstream_conn_queue_timeout. */
  totDownstreamConnQueueTimeouts = 0;
  totRetries = 0;
  totNotMyVBucket = 0;
  totMultigetKeys = 0;
  totMultigetKeysDeduped = 0;
  /** One-key gets answered by an identical get's fetch (not moxi's: it never squashed). */
  totGetsSquashed = 0;
  /**
   * moxi's err_oom: requests answered out of memory, here multi-gets whose values would pass what one
   * client may hold (CLIENT_REPLY_LIMIT).
   */
  errOom = 0;
  /**
   * Clients disconnected because the replies held for clients across the process passed their cap
   * (--max-unread) and this one had the most unread (UnreadReplies).
   */
  totUnreadDisconnects = 0;
  totConfigs = 0;
  /** Bytes read from and written to this pool's clients (memcached:stats:bytes_read/bytes_written). */
  totBytesRead = 0;
  totBytesWritten = 0;
}

/** A downstream server as a snapshot names it. */
export interface ServerSpec {
  host: string;
  port: number;
}

export interface PoolOptions {
  /** The port clients reach this pool on. */
  port: number;
  /** The bucket name ("default" for static pools). */
  name: string;
  /** SASL PLAIN credentials for the downstream servers (bucket name and password); '' = none. */
  user: string;
  password: string;
  behaviors: Behaviors;
  log: Logger;
  timer: CoarseTimer;
  /** The most bytes the pool's front cache may hold, FrontCache.cost of each item (-m; default 64 MB). */
  frontCacheBytes?: number;
  /** --memcached-errors: text clients get memcached's error lines, not moxi's a2b ones. */
  memcachedErrors?: boolean;
}

const FRONT_CACHE_BYTES = 64 * 1024 * 1024;

export class ProxyPool implements DeadlineHolder {
  readonly port: number;
  readonly name: string;
  readonly user: string;
  readonly password: string;
  readonly behaviors: Behaviors;
  readonly protocol: DownstreamProtocol;
  /** The lines text clients get for a binary server's error statuses. */
  readonly a2bErrors: A2bErrorTexts;
  readonly counters = new PoolCounters();
  /** moxi's per-command counters (pstd_stats_cmd). */
  readonly commandStats = new CommandStats();
  /** time_stats=1: moxi's connect and response-time histograms (`stats proxy timings`); else null. */
  readonly timings: PoolTimings | null;
  /** Text clients' one-key gets not written downstream yet, by key and verb (MultiGetRequest.squash). */
  readonly unsentGets = new UnsentGets<MultiGetRequest>();
  /** Binary clients' gets not written downstream yet, by key and opcode (BinaryKeyedRequest.squash). */
  readonly unsentBinaryGets = new UnsentGets<BinaryKeyedRequest>();
  /** The front cache (moxi-spec §8), or null when front_cache_lifespan or front_cache_max is 0. */
  readonly frontCache: FrontCache | null;
  readonly log: Logger;
  /**
   * moxi reports a failed get with its error text only for a cluster's vBucket buckets; static pools
   * and memcached buckets answer the keys as misses.
   */
  getErrorsAsText = false;
  /** One bucket of a cluster (not a static -z pool). */
  clusterBucket = false;
  /** The configuration text the current snapshot came from, for stats. */
  configText = '';
  /** Equal for two configurations that route the same (a cluster resends unchanged ones). */
  configSignature = '';
  /** moxi's config_ver: 0 for a static pool; a cluster's, the proxy's newest when this one last changed. */
  configVer = 0;
  private snapshot: PoolConfig = new PoolConfig(null, []);
  private readonly timer: CoarseTimer;
  private inflight = 0;
  private readonly waiting = new RingQueue<Waiting>();
  /** Servers that left the configuration, closed once they have nothing in flight. */
  private readonly retiring = new Set<DownstreamServer>();

  constructor(options: PoolOptions) {
    this.port = options.port;
    this.name = options.name;
    this.user = options.user;
    this.password = options.password;
    this.behaviors = options.behaviors;
    this.log = options.log;
    this.timer = options.timer;
    this.a2bErrors = options.memcachedErrors === true ? MemcachedA2bErrors : MoxiA2bErrors;
    this.timings =
      options.behaviors.time_stats !== 0
        ? { connect: new TimingHistogram(), reserved: new TimingHistogram() }
        : null;
    this.frontCache = FrontCache.fromBehaviors(
      options.behaviors,
      options.frontCacheBytes ?? FRONT_CACHE_BYTES,
    );
    // a SASL bucket needs binary connections (text ones cannot log in)
    this.protocol =
      options.behaviors.downstream_protocol === 'ascii' && options.user === '' ? 'ascii' : 'binary';
    this.timer.add(this);
  }

  /**
   * Multi-key gets may go to servers as text: a host list without SASL (the text protocol carries no
   * vbucket id and cannot log in).
   */
  get textMultiGet(): boolean {
    return this.user === '' && this.snapshot.router?.kind === 'ketama';
  }

  /** The routing snapshot new requests use. */
  get current(): PoolConfig {
    return this.snapshot;
  }

  get router(): PoolRouter | null {
    return this.snapshot.router;
  }

  get servers(): readonly DownstreamServer[] {
    return this.snapshot.servers;
  }

  /** False once the bucket left the cluster's configuration (or never got a map). */
  get available(): boolean {
    return this.snapshot.router !== null;
  }

  /**
   * Installs a new routing: servers named by `router` that this pool already has (same host and port)
   * are kept with their connections; new ones are created; the ones no longer named retire.
   */
  configure(router: PoolRouter | null, text: string, signature = text): void {
    this.counters.totConfigs++;
    // moxi restarts (empties) the front cache on every configuration, changed or not
    this.frontCache?.clear();
    this.configText = text;
    this.configSignature = signature;
    const old = new Map(this.snapshot.servers.map((s) => [s.ident, s]));
    const servers = (router?.servers ?? []).map((spec) => {
      const ident = `${spec.host}:${spec.port}`;
      const kept = old.get(ident) ?? [...this.retiring].find((s) => s.ident === ident);
      if (kept !== undefined) {
        old.delete(ident);
        this.retiring.delete(kept);
        return kept;
      }
      return this.newServer(spec);
    });
    for (const gone of old.values()) this.retiring.add(gone);
    this.snapshot = new PoolConfig(router, servers);
  }

  /**
   * With -t N: passes a key this pool's front cache forgot (null: all of them) on to the other workers'
   * pools of the same port and bucket, whose caches are their own.
   */
  tellPeers: ((pool: ProxyPool, key: string | null) => void) | null = null;

  /**
   * A mutation of `key` passes through the proxy: the front cache stops serving the key. `tell`: once the
   * server has answered, the other workers forget it too.
   */
  forgetKey(key: Buffer, tell = false): void {
    const cache = this.frontCache;
    if (cache === null || !cache.wants(key, 0, key.length)) return;
    const name = key.toString('latin1');
    cache.delete(name);
    if (tell) this.tellPeers?.(this, name);
  }

  /** flush_all passes through the proxy: the front cache empties (`tell`: in the other workers too). */
  forgetAll(tell = false): void {
    if (this.frontCache === null) return;
    this.frontCache.clear();
    if (tell) this.tellPeers?.(this, null);
  }

  /** The bucket left the configuration: new requests fail; servers close once idle. */
  shutdown(): void {
    this.configure(null, '');
  }

  private newServer(spec: ServerSpec): DownstreamServer {
    const b = this.behaviors;
    return new DownstreamServer(
      {
        host: spec.host,
        port: spec.port,
        connMax: b.downstream_conn_max,
        connectTimeout: b.connect_timeout,
        downstreamTimeout: b.downstream_timeout,
        connQueueTimeout: b.downstream_conn_queue_timeout,
        connectMaxErrors: b.connect_max_errors,
        connectRetryInterval: b.connect_retry_interval,
        user: this.user,
        password: this.password,
        authTimeout: b.auth_timeout,
        timings: this.timings ?? undefined,
      },
      this.log,
      this.timer,
    );
  }

  /** Where `key` goes now (new requests). */
  route(key: Buffer): Route {
    return this.snapshot.route(key);
  }

  /** route() of the key `start` to `end` of `source`. */
  routeIn(source: Buffer, start: number, end: number): Route {
    return this.snapshot.routeIn(source, start, end);
  }

  /** Where each of `keys` goes now, into `routes` (at least as long). */
  routeAll(keys: KeyList, routes: Route[]): void {
    this.snapshot.routeAll(keys, routes);
  }

  /**
   * A server answered NOT_MY_VBUCKET for `route`: where to try next, or null when the request should
   * give up (no vBucket map, or `retries` already reached moxi's limit of 2 x servers). When the pool
   * got a new configuration since the request started, the fresh one decides; otherwise the snapshot's
   * map learns the next master (its forward map's, or the next server).
   */
  nextRoute(route: Route, key: Buffer, retries: number): Route | null {
    const router = route.config.router;
    if (router?.kind !== 'vbucket' || retries >= router.maxRetries) return null;
    this.counters.totNotMyVBucket++;
    if (route.config !== this.snapshot) return this.snapshot.route(key);
    return {
      config: route.config,
      index: router.foundIncorrectMaster(route.vbucket, route.index),
      vbucket: route.vbucket,
    };
  }

  /**
   * A request failed on a server before any reply while a newer configuration was installed: the
   * server may have left the cluster (a node removed by a rebalance), so the request goes where the new
   * configuration routes it. Null when the routing it used is still current.
   */
  rerouteAfterFailure(route: Route, key: Buffer, reason: FailReason, answered: boolean): Route | null {
    if (answered || route.config === this.snapshot) return null;
    if (reason !== FailReason.Connect && reason !== FailReason.Closed && reason !== FailReason.Blacklisted)
      return null;
    const next = this.snapshot.route(key);
    return next.index >= 0 ? next : null;
  }

  /**
   * A request failed at its server for `reason`, with no retry left (a multi-get: one server's part of
   * it): counted once, under the counter of the reason, whatever the client's protocol.
   */
  countFailure(reason: FailReason): void {
    const counters = this.counters;
    switch (reason) {
      case FailReason.Timeout:
        counters.totDownstreamTimeouts++;
        break;
      case FailReason.QueueTimeout:
        counters.totDownstreamConnQueueTimeouts++;
        break;
      case FailReason.Connect:
      case FailReason.Blacklisted:
        counters.totDownstreamConnectFailures++;
        break;
      default:
        counters.totDownstreamClosed++;
    }
  }

  /**
   * A one-key request failed on `route`: where to send it again, or null to give up. A newer
   * configuration's route when the server may have left it (see rerouteAfterFailure); else the same
   * route for a connection that closed before any reply, while the request has made fewer than
   * downstream_retry such retries (`closeRetries`; the answer's `closeRetry` says to count one more).
   */
  retryKeyed(
    route: Route | null,
    key: Buffer,
    reason: FailReason,
    answered: boolean,
    closeRetries: number,
  ): { route: Route | null; closeRetry: boolean } | null {
    const moved = route === null ? null : this.rerouteAfterFailure(route, key, reason, answered);
    if (moved !== null) return { route: moved, closeRetry: false };
    if (reason === FailReason.Closed && !answered && closeRetries < this.behaviors.downstream_retry) {
      this.counters.totRetries++;
      return { route, closeRetry: true };
    }
    return null;
  }

  /** Runs `admission` now if fewer than downstream_max requests are in flight, else queues it. */
  admit(admission: Admission): void {
    if (this.admitNow()) {
      admission.start();
      return;
    }
    this.waiting.push({ admission, since: performance.now() });
  }

  /**
   * Takes a place among the downstream_max requests in flight if one is free and nobody waits for it:
   * the caller then runs its request at once (and releases the place when done). False: use admit().
   */
  admitNow(): boolean {
    const max = this.behaviors.downstream_max;
    if (max <= 0 || (this.inflight < max && this.waiting.length === 0)) {
      this.inflight++;
      return true;
    }
    return false;
  }

  /** A request admitted earlier is complete: let the next waiter run. */
  release(): void {
    this.inflight--;
    const max = this.behaviors.downstream_max;
    while (this.waiting.length > 0 && (max <= 0 || this.inflight < max)) {
      const next = this.waiting.shift()!;
      this.inflight++;
      next.admission.start();
    }
  }

  checkDeadlines(now: number): void {
    const timeout = this.behaviors.wait_queue_timeout;
    if (timeout > 0) {
      for (let head = this.waiting.peek(); head !== undefined; head = this.waiting.peek()) {
        if (now - head.since < timeout) break;
        this.waiting.shift();
        this.counters.totWaitQueueTimeouts++;
        head.admission.timedOut();
      }
    }
    for (const server of this.retiring) {
      if (server.idle) {
        this.retiring.delete(server);
        server.close();
      }
    }
  }

  close(): void {
    this.timer.delete(this);
    for (const s of this.snapshot.servers) s.close();
    for (const s of this.retiring) s.close();
  }
}
