/**
 * bin/moxi-cluster's command line: how many embedded nodes (or which real memcached servers), which
 * buckets, the REST and control ports. Pure: parsing does no I/O; main.ts prints and exits.
 */
import { parseArgs } from 'node:util';

export const BucketType = { VBucket: 'vbucket', Memcached: 'memcached' } as const;
export type BucketType = (typeof BucketType)[keyof typeof BucketType];

export interface BucketOption {
  readonly name: string;
  readonly password: string;
  readonly type: BucketType;
}

export interface ExternalServer {
  readonly host: string;
  readonly port: number;
}

export interface AdminCredentials {
  readonly user: string;
  readonly password: string;
}

export interface ClusterOptions {
  /** Embedded nodes to start with (ignored with `memcached`). */
  readonly nodes: number;
  /** Real memcached servers instead of embedded nodes; null = embedded nodes. */
  readonly memcached: readonly ExternalServer[] | null;
  readonly buckets: readonly BucketOption[];
  readonly numVBuckets: number;
  readonly restPort: number;
  readonly controlPort: number;
  /** Ports of embedded node slots 0, 1, ...; slots past the list continue from its last port + 1. */
  readonly nodePorts: readonly number[];
  /** Bind address, and the host advertised in every config. */
  readonly host: string;
  readonly admin: AdminCredentials | null;
  /** Per embedded node and bucket, in bytes (-m is in megabytes). */
  readonly maxBytes: number;
  /** Pause after each published step of a vBucket move, in ms (makes a rebalance observable). */
  readonly moveDelayMs: number;
  readonly verbosity: number;
}

export type ParsedCommandLine =
  | { readonly kind: 'help' }
  | { readonly kind: 'error'; readonly message: string }
  | { readonly kind: 'run'; readonly options: ClusterOptions };

export const DEFAULT_REST_PORT = 8091;
export const DEFAULT_CONTROL_PORT = 9091;
export const DEFAULT_NODE_PORT = 12000;
export const MAX_NODES = 64;
const MAX_VBUCKETS = 65536;

const OPTIONS = {
  nodes: { type: 'string' },
  memcached: { type: 'string' },
  buckets: { type: 'string' },
  'bucket-type': { type: 'string', multiple: true },
  vbuckets: { type: 'string' },
  'rest-port': { type: 'string' },
  'control-port': { type: 'string' },
  'node-ports': { type: 'string' },
  host: { type: 'string' },
  admin: { type: 'string' },
  memory: { type: 'string', short: 'm' },
  'move-delay': { type: 'string' },
  verbose: { type: 'boolean', short: 'v', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

export function usageText(): string {
  return `Usage: moxi-cluster [options]

A stand-in for a Couchbase/Membase cluster manager: embedded memcached nodes that own vBuckets,
the cluster's REST configuration endpoints, and a control port that rebalances on command.

Options:
  --nodes <n>              embedded nodes to start (default: 2, max: ${MAX_NODES})
  --memcached <h:p,...>    use these real memcached servers instead of embedded nodes (static map:
                           no SASL, no vBucket ownership, no rebalance)
  --buckets <list>         buckets as name[:password],... (default: default)
  --bucket-type <spec>     vbucket|memcached for every bucket, or name=vbucket|memcached for one;
                           repeatable and comma-separated (default: vbucket)
  --vbuckets <n>           vBuckets per vbucket bucket, a power of two (default: 64)
  --rest-port <port>       REST port (default: ${DEFAULT_REST_PORT})
  --control-port <port>    control port (default: ${DEFAULT_CONTROL_PORT})
  --node-ports <p,...>     ports of embedded node slots 0, 1, ...; more slots continue from the
                           last port + 1 (default: ${DEFAULT_NODE_PORT})
  --host <addr>            address to bind and to advertise (default: 127.0.0.1)
  --admin <user:password>  require HTTP basic auth on the REST endpoints
  -m, --memory <mb>        item memory per node and bucket in megabytes (default: 64)
  --move-delay <ms>        pause after each step of a vBucket move during a rebalance (default: 0)
  -v, --verbose            log more (-vv debug)
  -h, --help               print this help and exit

REST (port --rest-port):
  GET /pools/default/bucketsStreamingConfig/<bucket>   streamed bucket config, "\\n\\n\\n\\n" after each
  GET /pools/default/bucketsStreaming/<bucket>         same
  GET /pools/default/saslBucketsStreaming              streamed {"buckets":[...]}
  GET /pools/default/buckets[/<bucket>]                one JSON document
  GET /pools, /pools/default

Control (port --control-port):
  POST /rebalance?nodes=<n>   start/stop embedded nodes and move vBuckets; answers when done
  POST /rest/stop, /rest/start  close / reopen the REST listener (streams are dropped)
  GET  /status                nodes, ports, buckets and the published configs
  POST /shutdown              stop everything and exit
`;
}

function parseIntStrict(text: string, what: string, min: number, max: number): number | string {
  if (!/^\d+$/.test(text.trim())) return `${what} must be a number, not "${text}"`;
  const n = Number(text.trim());
  if (n < min || n > max) return `${what} must be between ${min} and ${max}, not ${n}`;
  return n;
}

function parsePort(text: string, what: string): number | string {
  return parseIntStrict(text, what, 1, 65535);
}

const BUCKET_NAME = /^[A-Za-z0-9._%-]{1,100}$/;

function parseBuckets(text: string): BucketOption[] | string {
  const out: BucketOption[] = [];
  for (const part of text.split(',')) {
    const entry = part.trim();
    if (entry === '') continue;
    const colon = entry.indexOf(':');
    const name = colon < 0 ? entry : entry.slice(0, colon);
    const password = colon < 0 ? '' : entry.slice(colon + 1);
    if (!BUCKET_NAME.test(name)) return `bad bucket name "${name}" (letters, digits, . _ % -)`;
    if (out.some((b) => b.name === name)) return `bucket "${name}" given twice`;
    out.push({ name, password, type: BucketType.VBucket });
  }
  if (out.length === 0) return 'no bucket given';
  return out;
}

function parseBucketType(text: string): BucketType | undefined {
  const t = text.trim().toLowerCase();
  if (t === 'vbucket' || t === 'membase' || t === 'couchbase') return BucketType.VBucket;
  if (t === 'memcached' || t === 'ketama') return BucketType.Memcached;
  return undefined;
}

function applyBucketTypes(buckets: BucketOption[], specs: readonly string[]): BucketOption[] | string {
  let all: BucketType | undefined;
  const per = new Map<string, BucketType>();
  for (const spec of specs.flatMap((s) => s.split(','))) {
    const entry = spec.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const type = parseBucketType(eq < 0 ? entry : entry.slice(eq + 1));
    if (type === undefined) return `bad --bucket-type "${entry}" (vbucket or memcached)`;
    if (eq < 0) {
      all = type;
      continue;
    }
    const name = entry.slice(0, eq).trim();
    if (!buckets.some((b) => b.name === name)) return `--bucket-type names unknown bucket "${name}"`;
    per.set(name, type);
  }
  return buckets.map((b) => ({ ...b, type: per.get(b.name) ?? all ?? b.type }));
}

function parseServers(text: string): ExternalServer[] | string {
  const out: ExternalServer[] = [];
  for (const part of text.split(',')) {
    const entry = part.trim();
    if (entry === '') continue;
    const colon = entry.lastIndexOf(':');
    const host = colon < 0 ? entry : entry.slice(0, colon);
    let port = 11211;
    if (colon >= 0) {
      const p = parsePort(entry.slice(colon + 1), `port of "${entry}"`);
      if (typeof p === 'string') return p;
      port = p;
    }
    if (host === '') return `bad memcached address "${entry}"`;
    out.push({ host, port });
  }
  if (out.length === 0) return '--memcached needs at least one host:port';
  return out;
}

function parsePortList(text: string): number[] | string {
  const out: number[] = [];
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const p = parsePort(part, '--node-ports');
    if (typeof p === 'string') return p;
    out.push(p);
  }
  if (out.length === 0) return '--node-ports needs at least one port';
  return out;
}

/** The port of embedded node slot `slot`. */
export function nodePortFor(ports: readonly number[], slot: number): number {
  if (slot < ports.length) return ports[slot];
  return ports[ports.length - 1] + (slot - ports.length + 1);
}

export function parseCommandLine(argv: readonly string[]): ParsedCommandLine {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    return { kind: 'error', message: (err as Error).message };
  }
  if (values.help === true) return { kind: 'help' };
  const error = (message: string): ParsedCommandLine => ({ kind: 'error', message });

  let nodes = 2;
  if (values.nodes !== undefined) {
    const n = parseIntStrict(values.nodes, '--nodes', 1, MAX_NODES);
    if (typeof n === 'string') return error(n);
    nodes = n;
  }
  let memcached: ExternalServer[] | null = null;
  if (values.memcached !== undefined) {
    if (values.nodes !== undefined) return error('--nodes and --memcached exclude each other');
    const servers = parseServers(values.memcached);
    if (typeof servers === 'string') return error(servers);
    memcached = servers;
    nodes = servers.length;
  }
  let buckets = parseBuckets(values.buckets ?? 'default');
  if (typeof buckets === 'string') return error(buckets);
  buckets = applyBucketTypes(buckets, values['bucket-type'] ?? []);
  if (typeof buckets === 'string') return error(buckets);

  let numVBuckets = 64;
  if (values.vbuckets !== undefined) {
    const n = parseIntStrict(values.vbuckets, '--vbuckets', 1, MAX_VBUCKETS);
    if (typeof n === 'string') return error(n);
    if ((n & (n - 1)) !== 0) return error(`--vbuckets must be a power of two, not ${n}`);
    numVBuckets = n;
  }
  let restPort = DEFAULT_REST_PORT;
  if (values['rest-port'] !== undefined) {
    const p = parsePort(values['rest-port'], '--rest-port');
    if (typeof p === 'string') return error(p);
    restPort = p;
  }
  let controlPort = DEFAULT_CONTROL_PORT;
  if (values['control-port'] !== undefined) {
    const p = parsePort(values['control-port'], '--control-port');
    if (typeof p === 'string') return error(p);
    controlPort = p;
  }
  let nodePorts: number[] = [DEFAULT_NODE_PORT];
  if (values['node-ports'] !== undefined) {
    if (memcached !== null) return error('--node-ports and --memcached exclude each other');
    const list = parsePortList(values['node-ports']);
    if (typeof list === 'string') return error(list);
    nodePorts = list;
  }
  if (restPort === controlPort) return error(`port ${restPort} is given twice`);
  if (memcached === null) {
    const used = new Set([restPort, controlPort]);
    for (let slot = 0; slot < Math.max(nodes, nodePorts.length); slot++) {
      const port = nodePortFor(nodePorts, slot);
      if (port > 65535) return error(`node slot ${slot} would need port ${port}`);
      if (used.has(port)) return error(`port ${port} is given twice`);
      used.add(port);
    }
  }
  const host = values.host ?? '127.0.0.1';
  if (host.trim() === '') return error('--host must not be empty');

  let admin: AdminCredentials | null = null;
  if (values.admin !== undefined) {
    const colon = values.admin.indexOf(':');
    if (colon <= 0) return error('--admin must be user:password');
    admin = { user: values.admin.slice(0, colon), password: values.admin.slice(colon + 1) };
  }
  let maxBytes = 64 * 1024 * 1024;
  if (values.memory !== undefined) {
    const mb = parseIntStrict(values.memory, '-m', 1, 1024 * 1024);
    if (typeof mb === 'string') return error(mb);
    maxBytes = mb * 1024 * 1024;
  }
  let moveDelayMs = 0;
  if (values['move-delay'] !== undefined) {
    const ms = parseIntStrict(values['move-delay'], '--move-delay', 0, 60_000);
    if (typeof ms === 'string') return error(ms);
    moveDelayMs = ms;
  }
  return {
    kind: 'run',
    options: {
      nodes,
      memcached,
      buckets,
      numVBuckets,
      restPort,
      controlPort,
      nodePorts,
      host,
      admin,
      maxBytes,
      moveDelayMs,
      verbosity: values.verbose?.length ?? 0,
    },
  };
}
