/**
 * The control port: what a test (or a person trying moxi.ts) uses to change the cluster. A separate
 * port so that the REST port can go down while the nodes keep serving and keep their data.
 *
 *   POST /rebalance?nodes=N   start/stop embedded nodes to reach N, move vBuckets; answers when done
 *   POST /rest/stop           close the REST listener (streams are dropped)
 *   POST /rest/start          open it again
 *   GET  /status              nodes, ports, buckets, the published configs
 *   POST /shutdown            stop everything and exit
 *
 * Answers are JSON; errors are {"error": "..."} with 400 (bad request), 404, 405, 409 (a rebalance
 * is running) or 500.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../util/log.ts';
import { ClusterError, type Cluster } from './cluster.ts';
import { hostPort } from './config-json.ts';
import { closeServer, listen, requestPath, sendJson } from './http-util.ts';
import type { RestServer } from './rest.ts';

export interface ControlServerOptions {
  readonly host: string;
  readonly port: number;
  /** Called after /shutdown has been answered. */
  readonly shutdown: () => void;
}

export class ControlServer {
  private readonly cluster: Cluster;
  private readonly rest: RestServer;
  private readonly options: ControlServerOptions;
  private readonly log: Logger;
  private readonly server: Server;

  constructor(cluster: Cluster, rest: RestServer, options: ControlServerOptions, log: Logger) {
    this.cluster = cluster;
    this.rest = rest;
    this.options = options;
    this.log = log;
    this.server = createServer({ keepAlive: true }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.error({ err: (err as Error).message }, 'control request failed');
        if (!res.headersSent) sendJson(res, 500, { error: (err as Error).message });
        else res.destroy();
      });
    });
  }

  get url(): string {
    return `http://${hostPort(this.options.host, this.options.port)}`;
  }

  async start(): Promise<void> {
    await listen(this.server, this.options.host, this.options.port);
    this.log.info({ url: this.url }, 'control server listening');
  }

  async close(): Promise<void> {
    await closeServer(this.server);
  }

  status(): object {
    return {
      restUrl: this.rest.url,
      restListening: this.rest.listening,
      streams: this.rest.streamCount,
      controlUrl: this.url,
      ...this.cluster.status(),
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = requestPath(req);
    if (path === null) {
      sendJson(res, 400, { error: 'bad path' });
      return;
    }
    const route = '/' + path.segments.join('/');
    const method = req.method ?? 'GET';
    const expect = (wanted: string): boolean => {
      if (method === wanted) return true;
      res.setHeader('Allow', wanted);
      sendJson(res, 405, { error: `${route} needs ${wanted}` });
      return false;
    };
    switch (route) {
      case '/status':
        if (expect('GET')) sendJson(res, 200, this.status());
        return;
      case '/rebalance': {
        if (!expect('POST')) return;
        const raw = path.query.get('nodes');
        const nodes = raw === null || !/^\d+$/.test(raw) ? NaN : Number(raw);
        if (Number.isNaN(nodes)) {
          sendJson(res, 400, { error: 'POST /rebalance?nodes=N needs a number N' });
          return;
        }
        try {
          const summary = await this.cluster.rebalance(nodes);
          sendJson(res, 200, { ok: true, ...summary });
        } catch (err) {
          const status = err instanceof ClusterError ? err.status : 500;
          sendJson(res, status, { error: (err as Error).message });
        }
        return;
      }
      case '/rest/stop':
        if (!expect('POST')) return;
        await this.rest.stop();
        sendJson(res, 200, { ok: true, restListening: false });
        return;
      case '/rest/start':
        if (!expect('POST')) return;
        try {
          await this.rest.start();
          sendJson(res, 200, { ok: true, restListening: true, restUrl: this.rest.url });
        } catch (err) {
          sendJson(res, 500, { error: `could not listen: ${(err as Error).message}` });
        }
        return;
      case '/shutdown':
        if (!expect('POST')) return;
        res.once('finish', () => {
          this.options.shutdown();
        });
        sendJson(res, 200, { ok: true });
        return;
      default:
        sendJson(res, 404, { error: `no such endpoint: ${method} ${route}` });
    }
  }
}
