/**
 * The embedded memcached server (moxi without -z): listens on -p, admits up to -c connections (beyond
 * that a client gets memcached's "ERROR Too many open connections" and is closed), and runs a slow
 * background sweep that reclaims expired items the way memcached's LRU crawler does.
 *
 * By default it has one bucket, "default", and no SASL: a plain memcached. A cluster node (see
 * src/cluster/) is built with several buckets and SASL: clients log in with PLAIN as bucket name and
 * password, unauthenticated connections use "default" if it exists, and SET_VBUCKET assigns vBuckets.
 */
import net from 'node:net';
import type { Logger } from '../util/log.ts';
import { adoptAccepted } from '../util/read-buffer.ts';
import { Clock } from './clock.ts';
import { Bucket } from './bucket.ts';
import type { SharedServerState } from './context.ts';
import { ServerSession } from './session.ts';
import { ServerCounters, type ServerSettings } from './stats.ts';
import { Store } from './store.ts';

/** Socket buffer size, set explicitly so behaviour does not change with the Node version's default. */
const HIGH_WATER_MARK = 64 * 1024;
/** How often, and how many items from the LRU tail, the expiry sweep looks at. */
const SWEEP_INTERVAL_MS = 1000;
const SWEEP_ITEMS = 1000;

const TOO_MANY = Buffer.from('ERROR Too many open connections\r\n');

/** A bucket to create: each gets a store of its own with the server's -m and -I. */
export interface BucketSpec {
  name: string;
  password: string;
}

export interface EmbeddedServerOptions {
  /** Default: one bucket "default" without a password. */
  buckets?: readonly BucketSpec[];
  /** SASL PLAIN bucket login (default: off, as memcached without -S). */
  sasl?: boolean;
  clock?: Clock;
}

export class EmbeddedServer {
  readonly buckets = new Map<string, Bucket>();
  readonly counters = new ServerCounters();
  readonly settings: ServerSettings;
  readonly clock: Clock;
  private readonly log: Logger;
  private readonly sessions = new Set<ServerSession>();
  private readonly server: net.Server;
  private readonly context: SharedServerState;
  private nextId = 1;
  private sweep: NodeJS.Timeout | null = null;
  private listening = false;

  constructor(settings: ServerSettings, log: Logger, options: EmbeddedServerOptions = {}) {
    this.settings = settings;
    this.log = log;
    const clock = options.clock ?? new Clock();
    this.clock = clock;
    for (const spec of options.buckets ?? [{ name: 'default', password: '' }]) {
      const store = new Store({
        maxBytes: settings.maxBytes,
        itemSizeMax: settings.itemSizeMax,
        evictions: settings.evictions,
        clock,
      });
      this.buckets.set(spec.name, new Bucket(spec.name, spec.password, store));
    }
    this.context = {
      clock,
      buckets: this.buckets,
      sasl: options.sasl ?? false,
      counters: this.counters,
      settings,
      log,
      accepting: () => this.listening,
      connectionStats: () => this.connectionStats(),
    };
    this.server = net.createServer(
      { noDelay: true, highWaterMark: HIGH_WATER_MARK, pauseOnConnect: true },
      (socket) => {
        this.accept(socket);
      },
    );
  }

  /** Starts listening; resolves with the bound port, rejects on a bind error (e.g. EADDRINUSE). */
  listen(): Promise<number> {
    const { port, bindAddress, tcpBacklog } = this.settings;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(err);
      };
      this.server.once('error', onError);
      this.server.listen({ port, host: bindAddress ?? undefined, backlog: tcpBacklog }, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => {
          this.log.error({ err: err.message }, 'listener error');
        });
        this.listening = true;
        const address = this.server.address();
        const bound = typeof address === 'object' && address !== null ? address.port : port;
        this.settings.port = bound;
        this.sweep = setInterval(() => {
          for (const bucket of this.buckets.values()) bucket.store.reclaim(SWEEP_ITEMS);
        }, SWEEP_INTERVAL_MS);
        this.sweep.unref();
        this.log.info({ port: bound, address: bindAddress ?? '*' }, 'embedded memcached server listening');
        resolve(bound);
      });
    });
  }

  private accept(socket: net.Socket): void {
    if (this.counters.currConnections >= this.settings.maxConns) {
      this.counters.rejectedConnections++;
      socket.on('error', () => socket.destroy());
      socket.end(TOO_MANY);
      return;
    }
    this.counters.currConnections++;
    this.counters.totalConnections++;
    const id = this.nextId++;
    const session = adoptAccepted(
      socket,
      HIGH_WATER_MARK,
      (reading) =>
        new ServerSession(this.context, reading, id, (s) => {
          if (this.sessions.delete(s)) this.counters.currConnections--;
        }),
    );
    this.sessions.add(session);
  }

  /** The store of the "default" bucket (the only one of a plain memcached). */
  get store(): Store {
    const bucket = this.buckets.get('default') ?? this.buckets.values().next().value;
    if (bucket === undefined) throw new Error('the server has no bucket');
    return bucket.store;
  }

  private connectionStats(): Array<readonly [string, string | number]> {
    const now = this.clock.current();
    const lines: Array<readonly [string, string | number]> = [];
    const address = this.server.address();
    const listenAddr =
      typeof address === 'object' && address !== null ? `tcp:${address.address}:${address.port}` : '';
    lines.push(['0:addr', listenAddr], ['0:state', 'conn_listening']);
    for (const s of this.sessions) {
      lines.push(
        [`${s.id}:addr`, `tcp:${s.socket.remoteAddress ?? ''}:${s.socket.remotePort ?? 0}`],
        [`${s.id}:listen_addr`, listenAddr],
        [`${s.id}:state`, 'conn_parse_cmd'],
        [`${s.id}:secs_since_last_cmd`, now - s.lastCommandTime],
      );
    }
    return lines;
  }

  /** Stops accepting, closes every client connection and the listener. */
  async close(): Promise<void> {
    this.listening = false;
    if (this.sweep !== null) clearInterval(this.sweep);
    for (const s of this.sessions) s.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }
}
