/**
 * The proxy as a whole: one pool and one listening port per `-z` section, the shared coarse timer, and
 * the local `stats proxy` listing. Binding every port happens before anything is served; a port that
 * cannot be bound stops the start with moxi's message.
 */
import net from 'node:net';
import os from 'node:os';
import { BEHAVIORS, type Behaviors } from '../config/behaviors.ts';
import type { StaticClusterConfig } from '../config/cluster-config.ts';
import { createRouter } from '../routing/router.ts';
import { CoarseTimer } from '../util/coarse-timer.ts';
import type { Logger } from '../util/log.ts';
import { ProxySession, type SessionHost } from '../upstream/session.ts';
import { MOXI_TS_VERSION } from '../version.ts';
import { ProxyPool } from './pool.ts';

export interface ProxyOptions {
  cluster: StaticClusterConfig;
  behaviors: Behaviors;
  /** -l, or null for every interface. */
  bindAddress: string | null;
  threads: number;
  log: Logger;
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

/** Socket buffer size, set explicitly so behaviour does not change with the Node version's default. */
const HIGH_WATER_MARK = 64 * 1024;

export class Proxy implements SessionHost {
  readonly pools: ProxyPool[] = [];
  private readonly options: ProxyOptions;
  private readonly timer: CoarseTimer;
  private readonly servers: net.Server[] = [];
  private readonly sessions = new Set<ProxySession>();
  private nextSessionId = 0;

  constructor(options: ProxyOptions) {
    this.options = options;
    const b = options.behaviors;
    const timeouts = [
      b.downstream_timeout,
      b.wait_queue_timeout,
      b.downstream_conn_queue_timeout,
      b.connect_timeout,
    ];
    this.timer = new CoarseTimer(CoarseTimer.tickFor(Math.min(...timeouts.filter((t) => t > 0), 1000)));
    for (const section of options.cluster.pools) {
      const router = createRouter(section, b.mcs_opts);
      if (router === null) {
        options.log.error(
          { port: section.port, config: section.config },
          'mcs_create failed; the pool answers errors',
        );
      }
      const pool = new ProxyPool({
        port: section.port,
        name: 'default',
        user: b.usr,
        password: b.pwd,
        behaviors: b,
        log: options.log,
        timer: this.timer,
      });
      pool.configure(router, section.config);
      this.pools.push(pool);
    }
  }

  /** Binds every pool's port; rejects with a ListenError naming the first port that failed. */
  async listen(): Promise<void> {
    for (const pool of this.pools) {
      const server = net.createServer({ noDelay: true, highWaterMark: HIGH_WATER_MARK }, (socket) => {
        this.accept(pool, socket);
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err) => {
          reject(new ListenError(pool.port, err));
        });
        server.listen({ port: pool.port, host: this.options.bindAddress ?? undefined }, () => {
          server.removeAllListeners('error');
          server.on('error', (err) => {
            this.options.log.error({ port: pool.port, err: err.message }, 'listener error');
          });
          resolve();
        });
      });
      this.servers.push(server);
      this.options.log.info(
        { port: pool.port, servers: pool.servers.map((s) => s.ident) },
        'proxy pool listening',
      );
    }
  }

  private accept(pool: ProxyPool, socket: net.Socket): void {
    pool.counters.numUpstream++;
    pool.counters.totUpstream++;
    const session = new ProxySession(pool, socket, this.nextSessionId++, this, (s) => {
      pool.counters.numUpstream--;
      this.sessions.delete(s);
    });
    this.sessions.add(session);
  }

  /** `stats proxy [all|info|settings|behaviors|stats|config|reset]`, moxi's names (moxi-spec §6.8). */
  statsProxy(pool: ProxyPool, arg: string): string {
    const sub = arg === '' ? 'all' : arg;
    const lines: Array<readonly [string, string | number]> = [];
    const all = sub === 'all';
    if (sub === 'reset') {
      for (const p of this.pools) resetCounters(p);
      return 'OK\r\n';
    }
    if (all || sub === 'info') {
      lines.push(
        ['basic:version', MOXI_TS_VERSION],
        ['basic:nthreads', this.options.threads + 1],
        ['basic:hostname', os.hostname()],
      );
    }
    if (all || sub === 'behaviors' || sub === 'settings') {
      lines.push(['proxy_main:conf_type', 'static']);
      for (const row of BEHAVIORS)
        lines.push([`proxy_main:behavior:${row.name}`, behaviorValue(pool.behaviors, row.name)]);
    }
    for (const p of this.pools) {
      const prefix = `${p.port}:${p.name}:`;
      if (all || sub === 'info' || sub === 'config') {
        lines.push(
          [`${prefix}info:port`, p.port],
          [`${prefix}info:name`, p.name],
          // moxi hides every password in the config text
          [
            `${prefix}info:config`,
            p.configText.replace(/[\r\n]/g, '').replace(/(assword"\s*:\s*")[^"]*/g, '$1XXXX'),
          ],
        );
      }
      if (all || sub === 'stats') {
        for (const [name, value] of Object.entries(p.counters))
          lines.push([`${prefix}pstd_stats:${snake(name)}`, value]);
        p.servers.forEach((s, i) => {
          lines.push(
            [`${prefix}server-${i}:ident`, s.ident],
            [`${prefix}server-${i}:num_downstream_conn`, s.connectionCount],
            [`${prefix}server-${i}:tot_downstream_connect`, s.counters.connects],
            [`${prefix}server-${i}:tot_downstream_connect_failed`, s.counters.connectFailures],
            [`${prefix}server-${i}:tot_downstream_closed_error`, s.counters.errorCloses],
            [`${prefix}server-${i}:tot_downstream_blacklisted`, s.counters.blacklistedFailures],
            [`${prefix}server-${i}:blacklisted`, s.blacklisted ? 1 : 0],
          );
        });
      }
    }
    let out = '';
    for (const [name, value] of lines) out += value === '' ? `STAT ${name}\r\n` : `STAT ${name} ${value}\r\n`;
    return out + 'END\r\n';
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.socket.destroy();
    await Promise.all(
      this.servers.map(
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

function behaviorValue(b: Behaviors, name: string): string | number {
  return (b as unknown as Record<string, string | number>)[name] ?? '';
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

function resetCounters(pool: ProxyPool): void {
  const c = pool.counters as unknown as Record<string, number>;
  for (const key of Object.keys(c)) if (key.startsWith('tot')) c[key] = 0;
}
