/**
 * The buckets in one configuration document from a REST server (moxi `src/agent_config.c`,
 * cproxy_on_config_json and friends; spec §4.3 "Accepted JSON"). Pure: the caller hands over the
 * already JSON.parse'd document and logs the returned error lines.
 *
 *   {"buckets": [ {bucket}, ... ]}    e.g. /pools/default/saslBucketsStreaming (a `default` bucket first)
 *   {bucket}                          e.g. /pools/default/bucketsStreamingConfig/default
 *
 * A bucket whose `nodeLocator` is "ketama" is a memcached bucket (servers from
 * `vBucketServerMap.serverList`, else the healthy `nodes`); anything else is a vBucket bucket whose JSON
 * is validated by parseVBucketServerMap. Downstream credentials: user = bucket name, password =
 * `saslPassword` (so `default` authenticates as user "default" with an empty password).
 */

import { cAtoi } from './behaviors.ts';
import { parseVBucketServerMap, VBucketMapError, type VBucketServerMap } from './vbucket-map.ts';

/** The bucket name moxi uses when a bucket (or a single-bucket document) has no string `name`. */
export const DEFAULT_BUCKET_NAME = 'default';

export interface KetamaBucketServer {
  readonly host: string;
  readonly port: number;
  /** The -Z downstream_weight behavior (0 = unweighted), as moxi appends it to each server. */
  readonly weight: number;
}

interface BucketCommon {
  readonly name: string;
  /** `saslPassword`, or '' when absent. The SASL user is the bucket name. */
  readonly password: string;
  /**
   * The pool's config text (what `stats proxy config` shows): the bucket's JSON for a vBucket bucket,
   * the libmemcached host list `host:port[:weight],...` for a memcached bucket.
   */
  readonly config: string;
  /**
   * Equal for two configs of this bucket exactly when the routing-relevant fields (name, password,
   * kind, servers, maps) are equal; member order and ignored fields (nodes' stats, uri, ...) do not
   * matter. Compare with `===` to see whether a bucket changed between two documents.
   */
  readonly signature: string;
}

export interface VBucketBucketConfig extends BucketCommon {
  readonly kind: 'vbucket';
  readonly map: VBucketServerMap;
}

export interface KetamaBucketConfig extends BucketCommon {
  readonly kind: 'ketama';
  /** Never empty. */
  readonly servers: readonly KetamaBucketServer[];
}

export type BucketConfig = VBucketBucketConfig | KetamaBucketConfig;

export interface ClusterBuckets {
  /** In moxi's processing order: buckets named `default` first, then the others in document order. */
  readonly buckets: BucketConfig[];
  /** One line per skipped bucket, for the caller to log at error level. */
  readonly errors: string[];
}

export interface ParseClusterBucketsOptions {
  /** -Z downstream_weight, given to every server of a memcached bucket; default 0. */
  readonly downstreamWeight?: number;
  /** Replacement for `$HOST` in vBucket server strings (libvbucket's rule); default `localhost`. */
  readonly localhost?: string;
}

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** cJSON_GetObjectItem: the first member whose name matches case-insensitively. */
function member(obj: unknown, name: string): unknown {
  if (!isObject(obj)) return undefined;
  if (Object.hasOwn(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  for (const key of Object.keys(obj)) if (key.toLowerCase() === lower) return obj[key];
  return undefined;
}

function stringMember(obj: unknown, name: string): string | undefined {
  const v = member(obj, name);
  return typeof v === 'string' ? v : undefined;
}

/**
 * Parses one configuration document received from `url` (used in the error lines). Never throws for
 * bad input: a bucket that cannot be used is left out and described in `errors`, the others are kept
 * (moxi's multi-tenant rule). A bucket name seen twice keeps its first position and its last config,
 * as moxi's reconfiguring the same proxy twice in one pass amounts to.
 */
export function parseClusterBuckets(
  json: unknown,
  url: string,
  options: ParseClusterBucketsOptions = {},
): ClusterBuckets {
  const errors: string[] = [];
  const parsed: BucketConfig[] = [];

  const list = member(json, 'buckets');
  if (Array.isArray(list)) {
    // moxi makes two passes so that the default bucket is created first.
    const items = list.filter(isObject);
    const nameOf = (b: JsonObject): string => stringMember(b, 'name') ?? DEFAULT_BUCKET_NAME;
    const ordered = [
      ...items.filter((b) => nameOf(b) === DEFAULT_BUCKET_NAME),
      ...items.filter((b) => nameOf(b) !== DEFAULT_BUCKET_NAME),
    ];
    for (const bucket of ordered) {
      const one = parseBucket(bucket, url, options, errors);
      if (one !== undefined) parsed.push(one);
    }
  } else {
    const one = parseBucket(json, url, options, errors);
    if (one !== undefined) parsed.push(one);
  }

  const byName = new Map<string, number>();
  const buckets: BucketConfig[] = [];
  for (const bucket of parsed) {
    const at = byName.get(bucket.name);
    if (at === undefined) {
      byName.set(bucket.name, buckets.length);
      buckets.push(bucket);
    } else {
      buckets[at] = bucket;
    }
  }
  return { buckets, errors };
}

function parseBucket(
  bucket: unknown,
  url: string,
  options: ParseClusterBucketsOptions,
  errors: string[],
): BucketConfig | undefined {
  const name = stringMember(bucket, 'name') ?? DEFAULT_BUCKET_NAME;
  const password = stringMember(bucket, 'saslPassword') ?? '';
  if (stringMember(bucket, 'nodeLocator') === 'ketama') {
    return ketamaBucket(bucket, name, password, url, options, errors);
  }
  return vbucketBucket(bucket, name, password, url, options, errors);
}

function vbucketBucket(
  bucket: unknown,
  name: string,
  password: string,
  url: string,
  options: ParseClusterBucketsOptions,
  errors: string[],
): VBucketBucketConfig | undefined {
  let map: VBucketServerMap;
  try {
    // A document that is not an object has no members: libvbucket then names the first one missing.
    map = parseVBucketServerMap(
      isObject(bucket) ? bucket : {},
      options.localhost !== undefined ? { localhost: options.localhost } : {},
    );
  } catch (err) {
    if (!(err instanceof VBucketMapError)) throw err;
    errors.push(`ERROR: bad JSON configuration from ${url}: ${err.message}`);
    return undefined;
  }
  const signature = JSON.stringify([
    'vbucket',
    name,
    password,
    map.numReplicas,
    map.serverList,
    Array.from(map.vBucketMap),
    map.vBucketMapForward === undefined ? null : Array.from(map.vBucketMapForward),
  ]);
  return { kind: 'vbucket', name, password, config: JSON.stringify(bucket), signature, map };
}

/**
 * A memcached bucket (moxi cproxy_on_config_json_one_ketama). Error texts are moxi's, which it logs at
 * -vv; `<j>` in the parse error is the index of the first entry it could not use.
 */
function ketamaBucket(
  bucket: unknown,
  name: string,
  password: string,
  url: string,
  options: ParseClusterBucketsOptions,
  errors: string[],
): KetamaBucketConfig | undefined {
  let entries = member(member(bucket, 'vBucketServerMap'), 'serverList');
  if (!Array.isArray(entries)) entries = member(bucket, 'nodes');
  if (!Array.isArray(entries)) {
    errors.push('ERROR: conjk no serverList/nodes in re-config');
    return undefined;
  }
  if (entries.length === 0) {
    errors.push('ERROR: conjk empty serverList/nodes in re-config');
    return undefined;
  }

  const weight =
    options.downstreamWeight !== undefined && options.downstreamWeight > 0 ? options.downstreamWeight : 0;
  const servers: KetamaBucketServer[] = [];
  let bad = -1;
  for (let j = 0; j < entries.length && bad < 0; j++) {
    const server = ketamaServer(entries[j], weight);
    if (server === undefined) bad = j;
    else if (server !== 'skip') servers.push(server);
  }
  // An entry it cannot use, or every node unhealthy: nothing to route to.
  if (bad >= 0 || servers.length === 0) {
    const j = bad >= 0 ? bad : entries.length;
    errors.push(`ERROR: conjk parse error for config ${j} from ${url} in ${JSON.stringify(bucket)}`);
    return undefined;
  }

  const config = servers.map((s) => `${s.host}:${s.port}${s.weight > 0 ? `:${s.weight}` : ''}`).join(',');
  const signature = JSON.stringify([
    'ketama',
    name,
    password,
    servers.map((s) => [s.host, s.port, s.weight]),
  ]);
  return { kind: 'ketama', name, password, config, signature, servers };
}

/** One serverList string or nodes[] entry: a server, 'skip' for a node that is not healthy, or undefined. */
function ketamaServer(entry: unknown, weight: number): KetamaBucketServer | 'skip' | undefined {
  if (typeof entry === 'string') {
    // "host:port"
    const colon = entry.indexOf(':');
    if (colon <= 0) return undefined;
    const port = cAtoi(entry.slice(colon + 1));
    if (port <= 0 || port > 0xffff) return undefined;
    return { host: entry.slice(0, colon), port, weight };
  }
  if (!isObject(entry)) return undefined;
  // {"status":"healthy","hostname":"host[:restport]","ports":{"direct":port}}; no status counts as healthy
  const status = member(entry, 'status');
  if (typeof status === 'string' && status !== 'healthy') return 'skip';
  const hostname = member(entry, 'hostname');
  const direct = member(member(entry, 'ports'), 'direct');
  if (typeof hostname !== 'string' || typeof direct !== 'number') return undefined;
  const port = Math.trunc(direct);
  const colon = hostname.indexOf(':');
  const host = colon < 0 ? hostname : hostname.slice(0, colon);
  if (host === '' || port <= 0 || port > 0xffff) return undefined;
  return { host, port, weight };
}
