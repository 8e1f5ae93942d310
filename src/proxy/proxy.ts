/**
 * The proxy as a whole, in one of moxi's two shapes:
 *   static   one pool and one listening port per `-z` section;
 *   cluster  one pool per bucket of a cluster's configuration, all on one port (port_listen); a client
 *            starts in the default bucket and moves with SASL PLAIN; new configurations are applied
 *            live (see ProxyPool.configure) and a bucket that leaves is shut down, not closed.
 * Also the shared coarse timer and the local `stats proxy` listing.
 */
import net from 'node:net';
import { adoptAccepted } from '../util/read-buffer.ts';
import type { Behaviors } from '../config/behaviors.ts';
import { FIRST_BUCKET } from '../config/behaviors.ts';
import type { StaticClusterConfig } from '../config/cluster-config.ts';
import { createRouter, type PoolRouter } from '../routing/router.ts';
import { CoarseTimer } from '../util/coarse-timer.ts';
import type { Logger } from '../util/log.ts';
import { ProxySession, type SessionHost } from '../upstream/session.ts';
import { UNREAD_REPLIES_LIMIT, UnreadReplies } from '../upstream/unread-replies.ts';
import { ProxyPool } from './pool.ts';
import { renderStatsProxy } from './stats-proxy.ts';
import type { ServerSettings } from '../server/stats.ts';

export interface ProxyOptions {
  behaviors: Behaviors;
  /** -l, or null for every interface. */
  bindAddress: string | null;
  threads: number;
  log: Logger;
  /** -m: the most bytes each pool's front cache may hold (default 64 MB). */
  maxBytes?: number;
  /** --memcached-errors: memcached's error lines for text clients of binary servers. */
  memcachedErrors?: boolean;
  /**
   * --max-unread: the most reply bytes this process holds for its clients (unread replies and multi-get
   * values) before it disconnects the client with the most unread; 0 = no cap. Default 512 MiB.
   */
  maxUnreadReplies?: number;
  /** The memcached settings of the run (-p, -c, -m, ...), which `stats proxy settings` lists. */
  settings?: ServerSettings;
  /**
   * With -t N worker processes: passes a key a pool's front cache forgot (null: all) to the other
   * workers, which apply it with forgetFromPeer().
   */
  frontCacheForgot?: (port: number, bucket: string, key: string | null) => void;
  /**
   * With -t N worker processes: answers `stats proxy [arg]` for all of them together (the reply is
   * asynchronous, gathered over IPC). Unset, the listing is this process's own.
   */
  statsProxy?: (arg: string) => Promise<string>;
}

/** One bucket of a cluster configuration, ready to route. */
export interface ClusterBucket {
  name: string;
  password: string;
  router: PoolRouter | null;
  /** The bucket's configuration as received, for stats. */
  text: string;
  /** Equal when two configurations of the bucket route the same. */
  signature: string;
}

/** moxi's fatal message when a proxy port cannot be bound. */
export function listenErrorMessage(port: number): string {
  return `ERROR: could not listen on port ${port}. Please use -Z port_listen=PORT_NUM to specify a different port number.`;
}

export class ListenError extends Error {
  readonly port: number;
  constructor(port: number, cause: Error) {
    super(listenErrorMessage(port), { cause });
    this.port = port;
  }
}

/**
 * What happened to cluster configurations (moxi's proxy_main stat_* counters): documents received and
 * unusable, buckets started, found existing, and shut down. A static -z run counts none.
 */
export class ConfigEvents {
  configs = 0;
  configFails = 0;
  proxyStarts = 0;
  proxyStartFails = 0;
  proxyExistings = 0;
  proxyShutdowns = 0;
}

/** Socket buffer size, set explicitly so behaviour does not change with the Node version's default. */
const HIGH_WATER_MARK = 64 * 1024;

export class Proxy implements SessionHost {
  readonly options: ProxyOptions;
  readonly mode: 'static' | 'cluster';
  /** Static: one per -z section. Cluster: one per bucket ever configured, in configuration order. */
  readonly pools: ProxyPool[] = [];
  private readonly timer: CoarseTimer;
  private readonly listeners: net.Server[] = [];
  readonly configEvents = new ConfigEvents();
  /** The newest config_ver given to a pool. */
  private configVer = 0;
  private readonly sessions = new Set<ProxySession>();
  private nextSessionId = 0;
  /** Cluster mode: buckets of the latest configuration, by name ('default' first when present). */
  private readonly buckets = new Map<string, ProxyPool>();
  private configured = false;
  private clusterListening: Promise<void> | null = null;
  readonly unreadReplies: UnreadReplies<ProxySession>;

  private constructor(options: ProxyOptions, mode: 'static' | 'cluster') {
    this.options = options;
    this.mode = mode;
    const cap = options.maxUnreadReplies ?? UNREAD_REPLIES_LIMIT;
    this.unreadReplies = new UnreadReplies<ProxySession>(cap, (session, unread) => {
      options.log.warn(
        {
          client: `${session.socket.remoteAddress ?? '?'}:${session.socket.remotePort ?? '?'}`,
          unread,
          cap,
        },
        'disconnecting the client with the most unread replies: replies held for clients passed --max-unread',
      );
      session.shed();
    });
    const b = options.behaviors;
    const timeouts = [
      b.downstream_timeout,
      b.wait_queue_timeout,
      b.downstream_conn_queue_timeout,
      b.connect_timeout,
    ];
    this.timer = new CoarseTimer(CoarseTimer.tickFor(Math.min(...timeouts.filter((t) => t > 0), 1000)));
  }

  /** A proxy for `-z PORT=...;PORT=...` sections (host lists or vBucket maps). */
  static fromStatic(cluster: StaticClusterConfig, options: ProxyOptions): Proxy {
    const proxy = new Proxy(options, 'static');
    const b = options.behaviors;
    for (const section of cluster.pools) {
      const router = createRouter(section, b.mcs_opts);
      if (router === null) {
        options.log.error(
          { port: section.port, config: section.config },
          'mcs_create failed; the pool answers errors',
        );
      }
      const pool = proxy.newPool(section.port, 'default', b.usr, b.pwd);
      pool.configure(router, section.config);
      proxy.pools.push(pool);
    }
    return proxy;
  }

  /** A proxy for a cluster's REST configuration; buckets arrive with applyClusterConfig(). */
  static forCluster(options: ProxyOptions): Proxy {
    return new Proxy(options, 'cluster');
  }

  private newPool(port: number, name: string, user: string, password: string): ProxyPool {
    const pool = new ProxyPool({
      port,
      name,
      user,
      password,
      behaviors: this.options.behaviors,
      log: this.options.log,
      timer: this.timer,
      ...(this.options.maxBytes !== undefined ? { frontCacheBytes: this.options.maxBytes } : {}),
      memcachedErrors: this.options.memcachedErrors === true,
    });
    const forgot = this.options.frontCacheForgot;
    if (forgot !== undefined && pool.frontCache !== null) {
      pool.tellPeers = (p, key) => {
        forgot(p.port, p.name, key);
      };
    }
    return pool;
  }

  /** Another worker's front cache forgot `key` (null: everything): so do this process's pools of that bucket. */
  forgetFromPeer(port: number, bucket: string, key: string | null): void {
    for (const pool of this.pools) {
      const cache = pool.frontCache;
      if (cache === null || pool.port !== port || pool.name !== bucket) continue;
      if (key === null) cache.clear();
      else cache.delete(key);
    }
  }

  /** The port every bucket shares in cluster mode. */
  get clusterPort(): number {
    return this.options.behaviors.port_listen;
  }

  /** Binds the static pools' ports, or (cluster mode) the shared port if a NULL bucket needs it now. */
  async listen(): Promise<void> {
    if (this.mode === 'static') {
      for (const pool of this.pools) await this.bind(pool.port, () => pool);
      return;
    }
    if (this.options.behaviors.default_bucket_name !== FIRST_BUCKET) await this.listenCluster();
  }

  private listenCluster(): Promise<void> {
    this.clusterListening ??= this.bind(this.clusterPort, () => this.defaultBucket());
    return this.clusterListening;
  }

  private async bind(port: number, poolFor: () => ProxyPool | null | 'refuse'): Promise<void> {
    const server = net.createServer(
      { noDelay: true, highWaterMark: HIGH_WATER_MARK, pauseOnConnect: true },
      (socket) => {
        const pool = poolFor();
        if (pool === 'refuse') {
          socket.destroy();
          return;
        }
        this.accept(pool, socket);
      },
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => {
        reject(new ListenError(port, err));
      });
      server.listen({ port, host: this.options.bindAddress ?? undefined }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => {
          this.options.log.error({ port, err: err.message }, 'listener error');
        });
        resolve();
      });
    });
    this.listeners.push(server);
    this.options.log.info({ port }, 'proxy listening');
  }

  /**
   * Where a new client of the shared port starts: default_bucket_name's bucket, or the first bucket
   * when it is unset; null (the NULL bucket) when the named bucket is not configured; and when the
   * configuration has no bucket at all, the connection is refused (moxi closes it at once).
   */
  private defaultBucket(): ProxyPool | null | 'refuse' {
    const wanted = this.options.behaviors.default_bucket_name;
    const live = [...this.buckets.values()].filter((p) => p.available);
    if (this.configured && live.length === 0) return 'refuse';
    if (wanted === FIRST_BUCKET) return live[0] ?? 'refuse';
    const named = this.buckets.get(wanted);
    return named?.available === true ? named : null;
  }

  private accept(pool: ProxyPool | null, socket: net.Socket): void {
    if (pool !== null) {
      pool.counters.numUpstream++;
      pool.counters.totUpstream++;
    }
    const session = adoptAccepted(
      socket,
      HIGH_WATER_MARK,
      (adopted) =>
        new ProxySession(pool, adopted, this.nextSessionId++, this, (s) => {
          if (pool !== null) pool.counters.numUpstream--;
          this.sessions.delete(s);
        }),
    );
    this.sessions.add(session);
  }

  /**
   * Cluster mode: a new configuration. Buckets in it are created or reconfigured in place (clients and
   * connections to surviving servers stay); buckets missing from it are shut down. The shared port
   * opens with the first configuration.
   */
  async applyClusterConfig(buckets: readonly ClusterBucket[]): Promise<void> {
    const events = this.configEvents;
    const seen = new Set<string>();
    for (const bucket of buckets) {
      seen.add(bucket.name);
      let pool = this.buckets.get(bucket.name);
      if (pool === undefined || pool.password !== bucket.password) {
        if (pool !== undefined) {
          pool.shutdown();
          events.proxyShutdowns++;
        }
        pool = this.newPool(this.clusterPort, bucket.name, bucket.name, bucket.password);
        pool.clusterBucket = true;
        this.pools.push(pool);
        events.proxyStarts++;
      } else {
        events.proxyExistings++;
      }
      if (pool.configSignature !== bucket.signature) {
        pool.configure(bucket.router, bucket.text, bucket.signature);
        pool.configVer = ++this.configVer;
      }
      // moxi reports failed gets with their error text only on a cluster's vBucket buckets
      pool.getErrorsAsText = bucket.router?.kind === 'vbucket';
      // Map order is configuration order: keep 'default' (moxi processes it first) at the front
      this.buckets.delete(bucket.name);
      this.buckets.set(bucket.name, pool);
    }
    for (const [name, pool] of this.buckets) {
      if (!seen.has(name) && pool.available) {
        this.options.log.warn({ bucket: name }, 'bucket left the configuration; shutting it down');
        pool.shutdown();
        events.proxyShutdowns++;
      }
    }
    this.configured = true;
    // a configuration without buckets opens nothing, unless a NULL bucket needs the port anyway
    const anyBucket = [...this.buckets.values()].some((p) => p.available);
    if (anyBucket || this.options.behaviors.default_bucket_name !== FIRST_BUCKET) await this.listenCluster();
  }

  /** SASL PLAIN login of a binary client: the bucket with that name and password. */
  login(user: string, password: string): ProxyPool | null {
    const pool = this.buckets.get(user);
    return pool?.available === true && pool.password === password ? pool : null;
  }

  /** How many listening sockets take clients for `port` (moxi's `stats:listening`). */
  listeningOn(port: number): number {
    let n = 0;
    for (const server of this.listeners) {
      const address = server.address();
      if (typeof address === 'object' && address?.port === port) n++;
    }
    return n;
  }

  statsProxy(pool: ProxyPool | null, arg: string): string | Promise<string> {
    const all = this.options.statsProxy;
    return all !== undefined ? all(arg) : renderStatsProxy(this, pool, arg);
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.socket.destroy();
    await Promise.all(
      this.listeners.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => {
              resolve();
            });
          }),
      ),
    );
    for (const pool of this.pools) pool.close();
    this.timer.stop();
  }
}
