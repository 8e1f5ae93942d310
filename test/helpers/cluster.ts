/**
 * bin/moxi-cluster for tests: start it on free loopback ports below 32768, talk to its REST and
 * control ports, read its streamed configs, and talk binary memcached to its nodes.
 *
 *  - startCluster(opts): `node bin/moxi-cluster --rest-port R --control-port C --node-ports P0,P1,...`
 *    with every port probed free (node ports are reserved for `maxNodes` slots, so a later
 *    rebalance up to maxNodes finds its ports); ready once the REST, control and initial node ports
 *    accept connections, belong to the process, and the "moxi-cluster ready" line was printed.
 *    Retried on new ports when one is taken. Stopped by the `after` hook of processes.ts like every
 *    other server, or by handle.stop().
 *  - httpRequest / ConfigStream: plain node:http, bounded waits; ConfigStream splits a streamed
 *    response on "\n\n\n\n" exactly as moxi does.
 *  - NodeClient: one binary connection to a node (SASL PLAIN, SET/GET/DELETE with a vBucket id,
 *    SET_VBUCKET / GET_VBUCKET / DEL_VBUCKET), one request at a time per call, matched by opaque.
 *  - ownerOf / vbucketOf: where a key lives by a published config.
 */
import {
  createServer as createHttpServer,
  request as httpRequestRaw,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { connect, type Socket } from 'node:net';
import { crc32Hash } from '../../src/routing/hash.ts';
import type { BucketJson } from '../../src/cluster/config-json.ts';
import type { RebalanceSummary } from '../../src/cluster/cluster.ts';
import { LOOPBACK, PortInUseError, freePort } from './ports.ts';
import {
  TargetKinds,
  repoRoot,
  spawnServerProcess,
  type MultiPortHandle,
  type ServerOptions,
} from './processes.ts';
import { BinOp, binRequest, parseBinFrames, type BinResponse } from './raw-client.ts';
import { Wakeup } from './wakeup.ts';

export type { BucketJson } from '../../src/cluster/config-json.ts';
export type { RebalanceSummary } from '../../src/cluster/cluster.ts';

const DEFAULT_TIMEOUT_MS = 5000;
const START_ATTEMPTS = 5;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------------------------------------
// HTTP

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

export interface HttpOptions {
  readonly method?: string;
  readonly auth?: Credentials;
  readonly timeoutMs?: number;
}

export interface HttpResult {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

function authHeader(auth: Credentials | undefined): Record<string, string> {
  if (auth === undefined) return {};
  return { Authorization: 'Basic ' + Buffer.from(`${auth.user}:${auth.password}`).toString('base64') };
}

/** One HTTP request, whole body read; rejects on a connection error or after timeoutMs. */
export function httpRequest(url: string, opts: HttpOptions = {}): Promise<HttpResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const req = httpRequestRaw(
      url,
      { method: opts.method ?? 'GET', headers: { ...authHeader(opts.auth), Connection: 'close' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (b: Buffer) => chunks.push(b));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`${opts.method ?? 'GET'} ${url}: no complete answer in ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

/** GET/POST expecting 200 and JSON. */
export async function httpJson<T>(url: string, opts: HttpOptions = {}): Promise<T> {
  const r = await httpRequest(url, opts);
  if (r.status !== 200) throw new Error(`${opts.method ?? 'GET'} ${url}: HTTP ${r.status} ${r.body}`);
  return JSON.parse(r.body) as T;
}

/** The separator that ends each streamed config. */
export const STREAM_SEPARATOR = '\n\n\n\n';

/**
 * A streamed config endpoint: every config (split on "\n\n\n\n") is parsed and queued; `next` takes
 * the oldest (waiting, bounded, for one to arrive). `ended` resolves when the server closes the
 * response (or the connection drops).
 */
export class ConfigStream {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly ended: Promise<void>;
  /** Every raw chunk as received (to check the framing). */
  readonly chunks: string[] = [];
  private readonly res: IncomingMessage;
  private readonly queue: unknown[] = [];
  private buffer = '';
  private isEnded = false;
  private readonly wakeup = new Wakeup();

  private constructor(res: IncomingMessage) {
    this.res = res;
    this.status = res.statusCode ?? 0;
    this.headers = res.headers;
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      this.chunks.push(chunk);
      this.buffer += chunk;
      for (;;) {
        const at = this.buffer.indexOf(STREAM_SEPARATOR);
        if (at < 0) break;
        const text = this.buffer.slice(0, at);
        this.buffer = this.buffer.slice(at + STREAM_SEPARATOR.length);
        if (text.trim() !== '') this.queue.push(JSON.parse(text));
      }
      this.wakeup.notify();
    });
    this.ended = new Promise((resolve) => {
      const done = (): void => {
        this.isEnded = true;
        this.wakeup.notify();
        resolve();
      };
      res.on('end', done);
      res.on('close', done);
      res.on('error', done);
    });
  }

  /** Opens `url`; resolves once the response headers arrived (any status). */
  static open(url: string, opts: HttpOptions = {}): Promise<ConfigStream> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const req = httpRequestRaw(url, { method: 'GET', headers: authHeader(opts.auth) }, (res) => {
        clearTimeout(timer);
        resolve(new ConfigStream(res));
      });
      const timer = setTimeout(() => {
        req.destroy(new Error(`GET ${url}: no response headers in ${timeoutMs} ms`));
      }, timeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end();
    });
  }

  get isClosed(): boolean {
    return this.isEnded;
  }

  /** Configs received and not yet taken. */
  get pending(): number {
    return this.queue.length;
  }

  /** The oldest config not yet taken; rejects after timeoutMs without one (or once the stream ended). */
  async next<T = unknown>(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      if (this.isEnded) throw new Error('config stream ended');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no config streamed in ${timeoutMs} ms`);
      await this.wakeup.sleep(left);
    }
    return this.queue.shift() as T;
  }

  /** Takes configs until `accept` returns true for one (bounded); returns it. */
  async until<T = unknown>(accept: (config: T) => boolean, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const config = await this.next<T>(Math.max(1, deadline - Date.now()));
      if (accept(config)) return config;
    }
  }

  close(): void {
    this.res.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Keys and maps

/** libvbucket's vBucket of `key` for a map of `numVBuckets`. */
export function vbucketOf(key: string | Buffer, numVBuckets: number): number {
  return crc32Hash(typeof key === 'string' ? Buffer.from(key) : key) & (numVBuckets - 1);
}

export interface KeyOwner {
  readonly vbucket: number;
  readonly index: number;
  readonly host: string;
  readonly port: number;
}

/** Where `key` lives by a vbucket bucket's published config. */
export function ownerOf(config: BucketJson, key: string | Buffer): KeyOwner {
  const map = config.vBucketServerMap;
  if (map === undefined) throw new Error(`bucket ${config.name} has no vBucket map`);
  const vbucket = vbucketOf(key, map.vBucketMap.length);
  const index = map.vBucketMap[vbucket][0];
  const server = map.serverList[index];
  const colon = server.lastIndexOf(':');
  return { vbucket, index, host: server.slice(0, colon), port: Number(server.slice(colon + 1)) };
}

// ---------------------------------------------------------------------------------------------
// Binary client for a node

export const VBucketStates = { none: 0, active: 1, replica: 2, pending: 3, dead: 4 } as const;

export const BinStatus = {
  success: 0x00,
  keyEnoent: 0x01,
  einval: 0x04,
  notMyVBucket: 0x07,
  authError: 0x20,
  unknownCommand: 0x81,
} as const;

export const ClusterOp = {
  saslListMechs: 0x20,
  saslAuth: 0x21,
  setVBucket: 0x3d,
  getVBucket: 0x3e,
  delVBucket: 0x3f,
} as const;

export interface NodeRequest {
  readonly opcode: number;
  readonly key?: Buffer | string;
  readonly extras?: Buffer;
  readonly value?: Buffer | string;
  readonly vbucket?: number;
  readonly cas?: bigint;
}

/** One binary connection to a node; requests are matched to replies by opaque. */
export class NodeClient {
  readonly port: number;
  private readonly sock: Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private nextOpaque = 1;
  private readonly waiting = new Map<number, (r: BinResponse | Error) => void>();
  private closedError: Error | undefined;

  private constructor(sock: Socket, port: number) {
    this.sock = sock;
    this.port = port;
    sock.setNoDelay(true);
    sock.on('data', (b: Buffer) => {
      this.buffer = this.buffer.length === 0 ? b : Buffer.concat([this.buffer, b]);
      const { frames, rest } = parseBinFrames(this.buffer);
      this.buffer = rest;
      for (const f of frames) {
        const done = this.waiting.get(f.opaque);
        if (done === undefined) continue;
        this.waiting.delete(f.opaque);
        done(f);
      }
    });
    const onGone = (err?: Error): void => {
      this.closedError ??= err ?? new Error(`connection to port ${port} closed`);
      for (const done of this.waiting.values()) done(this.closedError);
      this.waiting.clear();
    };
    sock.on('error', onGone);
    sock.on('close', () => {
      onGone();
    });
  }

  static connect(port: number, host = LOOPBACK, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<NodeClient> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host, port });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`connect ${host}:${port}: timed out`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        resolve(new NodeClient(sock, port));
      });
      sock.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  request(r: NodeRequest, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<BinResponse> {
    if (this.closedError !== undefined) return Promise.reject(this.closedError);
    const opaque = this.nextOpaque++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(opaque);
        reject(
          new Error(`opcode 0x${r.opcode.toString(16)} on port ${this.port}: no reply in ${timeoutMs} ms`),
        );
      }, timeoutMs);
      this.waiting.set(opaque, (res) => {
        clearTimeout(timer);
        if (res instanceof Error) reject(res);
        else resolve(res);
      });
      this.sock.write(binRequest({ ...r, opaque }));
    });
  }

  /** STAT (no key): the node's stats for the connection's bucket, as name -> value. */
  stats(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Map<string, string>> {
    if (this.closedError !== undefined) return Promise.reject(this.closedError);
    const opaque = this.nextOpaque++;
    const out = new Map<string, string>();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(opaque);
        reject(new Error(`STAT on port ${this.port}: no complete reply in ${timeoutMs} ms`));
      }, timeoutMs);
      const onFrame = (res: BinResponse | Error): void => {
        if (res instanceof Error) {
          clearTimeout(timer);
          reject(res);
          return;
        }
        if (res.key.length === 0) {
          clearTimeout(timer);
          resolve(out);
          return;
        }
        out.set(res.key.toString(), res.value.toString());
        this.waiting.set(opaque, onFrame);
      };
      this.waiting.set(opaque, onFrame);
      this.sock.write(binRequest({ opcode: BinOp.stat, opaque }));
    });
  }

  /** SASL PLAIN as `user` (a bucket name); resolves with the status. */
  async saslAuth(user: string, password: string): Promise<number> {
    const r = await this.request({
      opcode: ClusterOp.saslAuth,
      key: 'PLAIN',
      value: `\0${user}\0${password}`,
    });
    return r.status;
  }

  async set(
    key: string,
    value: string | Buffer,
    vbucket: number,
    flags = 0,
    exptime = 0,
  ): Promise<BinResponse> {
    const extras = Buffer.alloc(8);
    extras.writeUInt32BE(flags >>> 0, 0);
    extras.writeUInt32BE(exptime >>> 0, 4);
    return this.request({ opcode: BinOp.set, key, value, extras, vbucket });
  }

  async get(key: string, vbucket: number): Promise<BinResponse> {
    return this.request({ opcode: BinOp.get, key, vbucket });
  }

  async delete(key: string, vbucket: number): Promise<BinResponse> {
    return this.request({ opcode: BinOp.delete, key, vbucket });
  }

  /** SET_VBUCKET with the state as 4 bytes of extras (or of the body with `inBody`). */
  async setVBucket(vbucket: number, state: number, inBody = false): Promise<BinResponse> {
    const s = Buffer.alloc(4);
    s.writeUInt32BE(state >>> 0, 0);
    return this.request(
      inBody
        ? { opcode: ClusterOp.setVBucket, vbucket, value: s }
        : { opcode: ClusterOp.setVBucket, vbucket, extras: s },
    );
  }

  /** GET_VBUCKET: the state number (0 none .. 4 dead). */
  async getVBucket(vbucket: number): Promise<number> {
    const r = await this.request({ opcode: ClusterOp.getVBucket, vbucket });
    if (r.status !== BinStatus.success) throw new Error(`GET_VBUCKET ${vbucket}: status ${r.status}`);
    return r.value.readUInt32BE(0);
  }

  close(): void {
    this.sock.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// The cluster process

export interface ClusterStartOptions {
  /** --nodes (default 2). */
  readonly nodes?: number;
  /** Node port slots to reserve (default max(nodes, 4)): a rebalance can grow up to this. */
  readonly maxNodes?: number;
  /** --memcached host:port list (then no node ports are reserved). */
  readonly memcached?: readonly string[];
  /** --buckets (default "default"). */
  readonly buckets?: string;
  /** --bucket-type values, each passed as its own flag. */
  readonly bucketTypes?: readonly string[];
  /** --vbuckets (default the program's, 64). */
  readonly vbuckets?: number;
  /** --admin. */
  readonly admin?: Credentials;
  /** -m per node. */
  readonly memoryMb?: number;
  /** --move-delay in ms. */
  readonly moveDelayMs?: number;
  /** -v */
  readonly verbose?: boolean;
  readonly extraArgs?: readonly string[];
  readonly readyTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
}

export interface ClusterNodeStatus {
  readonly slot: number;
  readonly host: string;
  readonly port: number;
  readonly address: string;
  readonly embedded: boolean;
  readonly vbuckets: number;
}

/** GET /status of the control port. */
export interface ClusterStatus {
  readonly restUrl: string;
  readonly restListening: boolean;
  readonly streams: number;
  readonly controlUrl: string;
  readonly mode: 'embedded' | 'memcached';
  readonly numVBuckets: number;
  readonly rebalancing: boolean;
  readonly nodes: readonly ClusterNodeStatus[];
  readonly nodePorts: readonly number[];
  readonly buckets: ReadonlyArray<{ name: string; type: string; password: string; rev: number }>;
  readonly configs: readonly BucketJson[];
}

export interface ClusterHandle {
  readonly process: MultiPortHandle;
  readonly host: string;
  readonly restPort: number;
  readonly controlPort: number;
  /** http://127.0.0.1:<rest port> */
  readonly restUrl: string;
  /** http://127.0.0.1:<control port> */
  readonly controlUrl: string;
  /** The ports reserved for node slots 0, 1, ... (embedded mode). */
  readonly slotPorts: readonly number[];
  /** Ports of the initial nodes. */
  readonly initialNodePorts: readonly number[];
  readonly admin: Credentials | undefined;
  /** `${restUrl}/pools/default/bucketsStreamingConfig/<bucket>` */
  streamingUrl(bucket?: string): string;
  /** `${restUrl}/pools/default/saslBucketsStreaming` */
  saslStreamingUrl(): string;
  /** `${restUrl}/pools/default/buckets/<bucket>` */
  bucketUrl(bucket?: string): string;
  /** GET the bucket's config (with the admin credentials when there are some). */
  bucketConfig(bucket?: string): Promise<BucketJson>;
  status(): Promise<ClusterStatus>;
  /** Ports of the current member nodes, in serverList order. */
  nodePorts(): Promise<number[]>;
  /** POST /rebalance?nodes=N; resolves with the summary when the rebalance is done. */
  rebalance(nodes: number, timeoutMs?: number): Promise<RebalanceSummary>;
  restStop(): Promise<void>;
  restStart(): Promise<void>;
  /** POST /shutdown and wait (bounded) for the process to exit. */
  shutdown(): Promise<void>;
  /** SIGTERM (then SIGKILL). */
  stop(): Promise<void>;
  output(): string;
}

/** `node bin/moxi-cluster` (MOXI_CLUSTER_BIN overrides the script). */
export function clusterBin(): string {
  const fromEnv = process.env['MOXI_CLUSTER_BIN'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return `${repoRoot()}/bin/moxi-cluster`;
}

function clusterArgs(
  opts: ClusterStartOptions,
  restPort: number,
  controlPort: number,
  slotPorts: readonly number[],
): string[] {
  const a = ['--host', LOOPBACK, '--rest-port', String(restPort), '--control-port', String(controlPort)];
  if (opts.memcached !== undefined) a.push('--memcached', opts.memcached.join(','));
  else a.push('--nodes', String(opts.nodes ?? 2), '--node-ports', slotPorts.join(','));
  if (opts.buckets !== undefined) a.push('--buckets', opts.buckets);
  for (const t of opts.bucketTypes ?? []) a.push('--bucket-type', t);
  if (opts.vbuckets !== undefined) a.push('--vbuckets', String(opts.vbuckets));
  if (opts.admin !== undefined) a.push('--admin', `${opts.admin.user}:${opts.admin.password}`);
  if (opts.memoryMb !== undefined) a.push('-m', String(opts.memoryMb));
  if (opts.moveDelayMs !== undefined) a.push('--move-delay', String(opts.moveDelayMs));
  if (opts.verbose === true) a.push('-v');
  a.push(...(opts.extraArgs ?? []));
  return a;
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const out: number[] = [];
  while (out.length < count) {
    const p = await freePort();
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

const READY_LINE = 'moxi-cluster ready ';

async function startOnce(opts: ClusterStartOptions): Promise<ClusterHandle> {
  const external = opts.memcached !== undefined;
  const initial = external ? 0 : (opts.nodes ?? 2);
  const slots = external ? 0 : Math.max(initial, opts.maxNodes ?? 4);
  const [restPort, controlPort, ...slotPorts] = await distinctFreePorts(2 + slots);
  const initialNodePorts = slotPorts.slice(0, initial);
  const serverOpts: ServerOptions = {
    readyTimeoutMs: opts.readyTimeoutMs ?? 15_000,
    stopTimeoutMs: opts.stopTimeoutMs ?? 3000,
  };
  const proc = await spawnServerProcess({
    kind: TargetKinds.moxi,
    command: process.execPath,
    args: [clusterBin(), ...clusterArgs(opts, restPort, controlPort, slotPorts)],
    ports: [restPort, controlPort, ...initialNodePorts],
    opts: serverOpts,
    portInUse: (output) => {
      const m = /EADDRINUSE[^\n]*?:(\d+)/.exec(output);
      return m ? Number(m[1]) : undefined;
    },
  });
  // the ready line follows the last listen at once; wait for it (bounded) all the same
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 15_000);
  while (!proc.output().includes(READY_LINE)) {
    if (proc.exited()) throw new Error(`moxi-cluster exited during startup: ${proc.output()}`);
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`moxi-cluster printed no ready line: ${proc.output()}`);
    }
    await sleep(20);
  }
  const restUrl = `http://${LOOPBACK}:${restPort}`;
  const controlUrl = `http://${LOOPBACK}:${controlPort}`;
  const auth = opts.admin;
  const handle: ClusterHandle = {
    process: proc,
    host: LOOPBACK,
    restPort,
    controlPort,
    restUrl,
    controlUrl,
    slotPorts,
    initialNodePorts,
    admin: auth,
    streamingUrl: (bucket = 'default') =>
      `${restUrl}/pools/default/bucketsStreamingConfig/${encodeURIComponent(bucket)}`,
    saslStreamingUrl: () => `${restUrl}/pools/default/saslBucketsStreaming`,
    bucketUrl: (bucket = 'default') => `${restUrl}/pools/default/buckets/${encodeURIComponent(bucket)}`,
    bucketConfig: (bucket = 'default') =>
      httpJson<BucketJson>(`${restUrl}/pools/default/buckets/${encodeURIComponent(bucket)}`, { auth }),
    status: () => httpJson<ClusterStatus>(`${controlUrl}/status`),
    nodePorts: async () => [...(await httpJson<ClusterStatus>(`${controlUrl}/status`)).nodePorts],
    rebalance: (nodes, timeoutMs = 60_000) =>
      httpJson<RebalanceSummary>(`${controlUrl}/rebalance?nodes=${nodes}`, { method: 'POST', timeoutMs }),
    restStop: async () => {
      await httpJson(`${controlUrl}/rest/stop`, { method: 'POST' });
    },
    restStart: async () => {
      await httpJson(`${controlUrl}/rest/start`, { method: 'POST' });
    },
    shutdown: async () => {
      await httpJson(`${controlUrl}/shutdown`, { method: 'POST' });
      const until = Date.now() + 5000;
      while (!proc.exited() && Date.now() < until) await sleep(20);
      await proc.stop();
    },
    stop: () => proc.stop(),
    output: () => proc.output(),
  };
  return handle;
}

/** Starts bin/moxi-cluster on free loopback ports (retried on new ports when one is taken). */
export async function startCluster(opts: ClusterStartOptions = {}): Promise<ClusterHandle> {
  let last: unknown;
  for (let i = 0; i < START_ATTEMPTS; i++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if (!(err instanceof PortInUseError)) throw err;
      last = err;
    }
  }
  throw new Error(`moxi-cluster: gave up after ${START_ATTEMPTS} port collisions`, { cause: last });
}

// ---------------------------------------------------------------------------------------------
// A REST server of the test's own (configurations the test writes by hand)

/** Answers one request of a StubRestServer (instead of the default streaming answer). */
export type StubRestHandler = (req: IncomingMessage, res: ServerResponse, stub: StubRestServer) => void;

export interface StubRestRequest {
  readonly path: string;
  readonly authorization: string | undefined;
  /** Date.now() when the request arrived. */
  readonly at: number;
}

/**
 * A tiny REST config server on a free loopback port. By default every GET (any path) is answered as a
 * streaming config endpoint: 200, chunked, the current document followed by "\n\n\n\n", kept open;
 * publish() sends a new document to every open stream (and to later ones). A `handler` replaces that
 * answer (a 401, a non-JSON body, ...). Every request is recorded. close() drops everything (bounded).
 */
export class StubRestServer {
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly requests: StubRestRequest[] = [];
  private readonly server: HttpServer;
  private readonly streams = new Set<ServerResponse>();
  private document: string;
  private handler: StubRestHandler | undefined;

  private constructor(server: HttpServer, port: number, document: string, handler?: StubRestHandler) {
    this.server = server;
    this.port = port;
    this.url = `http://${LOOPBACK}:${port}`;
    this.document = document;
    this.handler = handler;
  }

  /** Listens on a free loopback port (retried on a new port when one is taken). */
  static async start(opts: { document?: unknown; handler?: StubRestHandler } = {}): Promise<StubRestServer> {
    const text = (d: unknown): string => (typeof d === 'string' ? d : JSON.stringify(d ?? { buckets: [] }));
    let last: unknown;
    for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
      const port = await freePort();
      const server = createHttpServer();
      const stub = new StubRestServer(server, port, text(opts.document), opts.handler);
      server.on('request', (req: IncomingMessage, res: ServerResponse) => {
        stub.onRequest(req, res);
      });
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ port, host: LOOPBACK, exclusive: true }, () => {
            server.removeListener('error', reject);
            resolve();
          });
        });
        return stub;
      } catch (err) {
        last = err;
        server.close();
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      }
    }
    throw new Error(`StubRestServer: gave up after ${START_ATTEMPTS} port collisions`, { cause: last });
  }

  /** `${url}${path}` */
  at(path = '/pools/default/saslBucketsStreaming'): string {
    return `${this.url}${path}`;
  }

  /** Streams currently open. */
  get streamCount(): number {
    return this.streams.size;
  }

  /** Replaces the answer for later requests (undefined: the default streaming answer). */
  setHandler(handler: StubRestHandler | undefined): void {
    this.handler = handler;
  }

  /** The document later streams start with; sent to every open stream at once. */
  publish(document: unknown): void {
    this.document = typeof document === 'string' ? document : JSON.stringify(document);
    for (const res of this.streams) if (!res.destroyed) res.write(this.document + STREAM_SEPARATOR);
  }

  /** Cuts every open stream (mid-response, as a dying server would). */
  dropStreams(): void {
    for (const res of this.streams) res.destroy();
    this.streams.clear();
  }

  /** Waits (bounded) until at least `n` streams are open; whether they are. */
  async waitForStreams(n: number, timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.streams.size < n) {
      if (Date.now() > deadline) return false;
      await sleep(10);
    }
    return true;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.requests.push({ path: req.url ?? '', authorization: req.headers.authorization, at: Date.now() });
    if (this.handler !== undefined) {
      this.handler(req, res, this);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Transfer-Encoding': 'chunked' });
    this.streams.add(res);
    res.on('close', () => {
      this.streams.delete(res);
    });
    res.write(this.document + STREAM_SEPARATOR);
  }

  async close(): Promise<void> {
    for (const res of this.streams) res.destroy();
    this.streams.clear();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.server.closeAllConnections();
    });
  }
}
