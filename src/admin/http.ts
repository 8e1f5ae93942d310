/**
 * The admin HTTP endpoint (`--admin [addr:]port`, off by default, loopback unless an address is given):
 *
 *   GET /metrics     Prometheus text format (admin/metrics.ts)
 *   GET /healthz     {"status":"ok"|"degraded"|"down", pools...}: 200, or 503 when down
 *   GET /api/stats   the whole snapshot as JSON (what the dashboard draws)
 *   GET /            the live dashboard (admin/dashboard.ts), which polls /api/stats
 *   GET /debug/cpu-profile?seconds=S[&worker=W]
 *                    a CPU profile of S seconds (default 10, at most 120) as a .cpuprofile download
 *                    (admin/cpu-profile.ts); with -t N, of worker W (1..N, default 1)
 *
 * It runs in the process that owns the ports: the only one, or the -t N primary, which asks every
 * worker for its numbers on each request (AdminSource). A slow or failing source answers 503, never
 * hangs the scrape.
 */
import http from 'node:http';
import type { Logger } from '../util/log.ts';
import type { AdminAddress } from './address.ts';
import { DASHBOARD_HTML } from './dashboard.ts';
import { AdminMetrics, mergedProxy } from './metrics.ts';
import { CpuProfileError, profileSeconds } from './cpu-profile.ts';
import { health, type AdminSource } from './snapshot.ts';

export class AdminServer {
  private readonly server: http.Server;
  private readonly metrics = new AdminMetrics();
  private readonly source: AdminSource;
  private readonly address: AdminAddress;
  private readonly log: Logger;

  constructor(address: AdminAddress, source: AdminSource, log: Logger) {
    this.address = address;
    this.source = source;
    this.log = log;
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.warn({ err: String(err), url: req.url }, 'admin request failed');
        if (!res.headersSent) send(res, 503, 'text/plain; charset=utf-8', 'unavailable\n');
        else res.destroy();
      });
    });
    // a scrape is short: idle keep-alive connections go after a while
    this.server.keepAliveTimeout = 5000;
  }

  /** Resolves with the bound port; rejects on a bind error. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.address.port, this.address.host, () => {
        this.server.off('error', reject);
        this.server.on('error', (err) => {
          this.log.error({ err: err.message }, 'admin listener error');
        });
        const a = this.server.address();
        const port = typeof a === 'object' && a !== null ? a.port : this.address.port;
        this.log.info(
          { address: this.address.host, port },
          'admin endpoint listening (/metrics, /healthz, /debug/cpu-profile, /)',
        );
        resolve(port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => {
        resolve();
      });
      this.server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
      return;
    }
    const target = req.url ?? '/';
    const query = target.indexOf('?');
    const path = query < 0 ? target : target.slice(0, query);
    switch (path) {
      case '/metrics': {
        const snapshot = await this.source.snapshot();
        send(res, 200, this.metrics.contentType, await this.metrics.render(snapshot));
        return;
      }
      case '/healthz': {
        const snapshot = await this.source.snapshot();
        const h = health(snapshot, mergedProxy(snapshot));
        send(res, h.status === 'down' ? 503 : 200, JSON_TYPE, JSON.stringify(h) + '\n');
        return;
      }
      case '/api/stats': {
        const snapshot = await this.source.snapshot();
        const merged = mergedProxy(snapshot);
        // no config text nor behaviors here: they can hold passwords, which `stats proxy` masks
        const body = {
          version: snapshot.version,
          mode: snapshot.mode,
          threads: snapshot.threads,
          uptimeSeconds: snapshot.uptimeSeconds,
          health: health(snapshot, merged).status,
          workers: snapshot.workers.map((w) => w.process),
          pools: (merged?.pools ?? []).map((p) => ({
            port: p.port,
            bucket: p.name,
            available: p.available,
            counters: p.counters,
            frontCache: p.frontCache,
            servers: p.servers,
          })),
          embedded: snapshot.embedded,
          configSource: snapshot.configSource,
        };
        send(res, 200, JSON_TYPE, JSON.stringify(body) + '\n');
        return;
      }
      case '/':
      case '/index.html':
        send(res, 200, 'text/html; charset=utf-8', DASHBOARD_HTML);
        return;
      case '/debug/cpu-profile':
        await this.cpuProfile(new URLSearchParams(query < 0 ? '' : target.slice(query + 1)), res);
        return;
      default:
        send(
          res,
          404,
          'text/plain; charset=utf-8',
          'not found: try /metrics, /healthz, /api/stats, /debug/cpu-profile or /\n',
        );
    }
  }

  private async cpuProfile(params: URLSearchParams, res: http.ServerResponse): Promise<void> {
    try {
      const seconds = profileSeconds(params.get('seconds'));
      const workerText = params.get('worker');
      const worker = workerText === null ? null : Number(workerText);
      if (worker !== null && !(Number.isInteger(worker) && worker >= 1)) {
        throw new CpuProfileError(400, `worker must be a worker number (1, 2, ...), not "${workerText}"`);
      }
      this.log.info({ seconds, worker }, 'taking a CPU profile');
      const { pid, profile } = await this.source.cpuProfile(seconds, worker);
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      res.writeHead(200, {
        'Content-Type': JSON_TYPE,
        'Content-Length': Buffer.byteLength(profile),
        'Content-Disposition': `attachment; filename="moxi-${pid}-${stamp}.cpuprofile"`,
        'Cache-Control': 'no-store',
        'X-Moxi-Pid': String(pid),
      });
      res.end(res.req.method === 'HEAD' ? undefined : profile);
    } catch (err) {
      if (!(err instanceof CpuProfileError)) throw err;
      send(res, err.status, 'text/plain; charset=utf-8', err.message + '\n');
    }
  }
}

const JSON_TYPE = 'application/json; charset=utf-8';

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
