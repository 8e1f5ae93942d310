/**
 * The cluster manager's REST port, the part moxi and clients talk to:
 *
 *   GET /pools/default/bucketsStreamingConfig/<bucket>   streamed: the bucket's JSON, then "\n\n\n\n",
 *   GET /pools/default/bucketsStreaming/<bucket>         again after every change; kept open
 *   GET /pools/default/saslBucketsStreaming              streamed {"buckets":[every bucket]}
 *   GET /pools/default/buckets/<bucket>                  the bucket's JSON, once
 *   GET /pools/default/buckets                           [every bucket], once
 *   GET /pools, /pools/default                           the pool documents clients start from
 *
 * Unknown buckets and paths get 404 "Requested resource not found.\r\n" as from Couchbase. With
 * --admin every request needs HTTP basic auth: the admin's credentials, or for a bucket's own
 * endpoints that bucket's name and password; otherwise 401. The listener can be stopped and started
 * again (the control port does it) while the nodes keep running.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../util/log.ts';
import { MOXI_TS_VERSION } from '../version.ts';
import type { AdminCredentials } from './args.ts';
import type { Cluster } from './cluster.ts';
import { hostPort, nodesJson } from './config-json.ts';
import { closeServer, listen, requestPath, sendJson, sendText } from './http-util.ts';

/** What ends one streamed config (moxi hands a chunk ending with it over as one config). */
export const STREAM_SEPARATOR = '\n\n\n\n';
const NOT_FOUND = 'Requested resource not found.\r\n';
const REALM = 'Basic realm="Couchbase Server Admin / REST"';

interface Stream {
  /** null: every bucket (saslBucketsStreaming). */
  readonly bucket: string | null;
  readonly res: ServerResponse;
}

export interface RestServerOptions {
  readonly host: string;
  readonly port: number;
  readonly admin: AdminCredentials | null;
}

export class RestServer {
  private readonly cluster: Cluster;
  private readonly options: RestServerOptions;
  private readonly log: Logger;
  private server: Server | null = null;
  private readonly streams = new Set<Stream>();
  private readonly unsubscribe: () => void;

  constructor(cluster: Cluster, options: RestServerOptions, log: Logger) {
    this.cluster = cluster;
    this.options = options;
    this.log = log;
    this.unsubscribe = cluster.onChange((changed) => {
      this.broadcast(changed);
    });
  }

  get listening(): boolean {
    return this.server !== null;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  get url(): string {
    return `http://${hostPort(this.options.host, this.options.port)}`;
  }

  /** Opens the listener (a no-op when open). Rejects with the bind error. */
  async start(): Promise<void> {
    if (this.server !== null) return;
    const server = createServer({ keepAlive: true }, (req, res) => {
      this.handle(req, res);
    });
    server.on('connection', (socket: Socket) => {
      socket.setNoDelay(true);
    });
    server.on('clientError', (_err, socket: Socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    await listen(server, this.options.host, this.options.port);
    this.server = server;
    this.log.info({ url: this.url }, 'REST server listening');
  }

  /** Closes the listener and every connection, streams included (a no-op when closed). */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    for (const stream of this.streams) stream.res.destroy();
    this.streams.clear();
    await closeServer(server);
    this.log.info({ url: this.url }, 'REST server stopped');
  }

  async close(): Promise<void> {
    this.unsubscribe();
    await this.stop();
  }

  private broadcast(changed: readonly string[]): void {
    let all: string | undefined;
    const perBucket = new Map<string, string>();
    for (const stream of this.streams) {
      let text: string | undefined;
      if (stream.bucket === null) {
        all ??= this.allBucketsText();
        text = all;
      } else if (changed.includes(stream.bucket)) {
        text = perBucket.get(stream.bucket);
        if (text === undefined) {
          text = JSON.stringify(this.cluster.config(stream.bucket));
          perBucket.set(stream.bucket, text);
        }
      }
      if (text !== undefined && !stream.res.destroyed) stream.res.write(text + STREAM_SEPARATOR);
    }
  }

  private allBucketsText(): string {
    return JSON.stringify({ buckets: this.cluster.configs() });
  }

  /** Whether the request may see `bucket` (null: only the admin may). */
  private authorized(req: IncomingMessage, bucket: string | null): boolean {
    const admin = this.options.admin;
    if (admin === null) return true;
    const header = req.headers.authorization;
    if (header === undefined) return false;
    const m = /^Basic\s+(\S+)\s*$/i.exec(header);
    if (m === null) return false;
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    if (user === admin.user && password === admin.password) return true;
    if (bucket === null) return false;
    const config = this.cluster.config(bucket);
    return config !== undefined && user === bucket && password === config.saslPassword;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = requestPath(req);
    if (path === null) {
      sendText(res, 400, 'Bad Request\r\n');
      return;
    }
    if (req.method !== 'GET') {
      sendText(res, 405, 'Method Not Allowed\r\n', { Allow: 'GET' });
      return;
    }
    const s = path.segments;
    // which bucket a request is about, for bucket credentials (null: cluster-wide)
    const bucketOf = (): string | null =>
      s.length === 4 &&
      s[0] === 'pools' &&
      s[1] === 'default' &&
      (s[2] === 'buckets' || s[2] === 'bucketsStreaming' || s[2] === 'bucketsStreamingConfig')
        ? s[3]
        : null;
    if (!this.authorized(req, bucketOf())) {
      this.log.info({ url: req.url }, 'REST request refused: 401');
      sendText(res, 401, '', { 'WWW-Authenticate': REALM });
      return;
    }
    this.log.debug({ url: req.url }, 'REST request');
    if (s.length === 1 && s[0] === 'pools') {
      sendJson(res, 200, this.poolsJson());
      return;
    }
    if (s.length < 2 || s[0] !== 'pools' || s[1] !== 'default') {
      sendText(res, 404, NOT_FOUND);
      return;
    }
    if (s.length === 2) {
      sendJson(res, 200, this.poolJson());
      return;
    }
    const [, , what, bucket] = s;
    if (s.length === 3 && what === 'buckets') {
      sendJson(res, 200, this.cluster.configs());
      return;
    }
    if (s.length === 3 && what === 'saslBucketsStreaming') {
      this.stream(res, null);
      return;
    }
    if (s.length === 4) {
      const config = this.cluster.config(bucket);
      if (config === undefined) {
        sendText(res, 404, NOT_FOUND);
        return;
      }
      if (what === 'buckets') {
        sendJson(res, 200, config);
        return;
      }
      if (what === 'bucketsStreaming' || what === 'bucketsStreamingConfig') {
        this.stream(res, bucket);
        return;
      }
    }
    sendText(res, 404, NOT_FOUND);
  }

  private stream(res: ServerResponse, bucket: string | null): void {
    res.writeHead(200, {
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-cache',
      'Transfer-Encoding': 'chunked',
    });
    const stream: Stream = { bucket, res };
    this.streams.add(stream);
    res.on('close', () => {
      this.streams.delete(stream);
    });
    const text = bucket === null ? this.allBucketsText() : JSON.stringify(this.cluster.config(bucket));
    res.write(text + STREAM_SEPARATOR);
  }

  private poolsJson(): object {
    return {
      pools: [{ name: 'default', uri: '/pools/default', streamingUri: '/poolsStreaming/default' }],
      isAdminCreds: this.options.admin !== null,
      implementationVersion: `moxi-cluster-${MOXI_TS_VERSION}`,
      componentsVersion: { 'moxi-cluster': MOXI_TS_VERSION },
    };
  }

  private poolJson(): object {
    return {
      name: 'default',
      nodes: nodesJson({
        host: this.options.host,
        restPort: this.options.port,
        nodes: this.cluster.nodes,
        owners: new Int32Array(0),
        forward: null,
      }),
      buckets: { uri: '/pools/default/buckets' },
    };
  }
}
