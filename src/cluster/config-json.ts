/**
 * The JSON a Couchbase 1.x/2.x cluster manager publishes for a bucket, as moxi and the clients of the
 * time read it (moxi-spec §4.3, §5.1): `nodes[]` with the direct (memcached) port of each server, and
 * for vbucket ("membase") buckets the `vBucketServerMap`, plus `vBucketMapForward` during a rebalance.
 * Memcached buckets carry no map: clients hash with ketama over `nodes[]`. Pure.
 */
import { BucketType, type BucketOption } from './args.ts';

export interface NodeAddress {
  readonly host: string;
  readonly port: number;
}

export interface NodeJson {
  hostname: string;
  status: 'healthy';
  clusterMembership: 'active';
  ports: { direct: number; proxy: number };
  thisNode?: true;
}

export interface VBucketServerMapJson {
  hashAlgorithm: 'CRC';
  numReplicas: number;
  serverList: string[];
  vBucketMap: number[][];
  vBucketMapForward?: number[][];
}

export interface BucketJson {
  rev: number;
  name: string;
  bucketType: 'membase' | 'memcached';
  authType: 'sasl';
  saslPassword: string;
  proxyPort: number;
  uuid: string;
  uri: string;
  streamingUri: string;
  nodeLocator: 'vbucket' | 'ketama';
  nodes: NodeJson[];
  vBucketServerMap?: VBucketServerMapJson;
}

export interface BucketDescription extends BucketOption {
  readonly uuid: string;
}

export interface ClusterView {
  /** The advertised host of the REST server (nodes' `hostname` is `host:restPort`). */
  readonly host: string;
  readonly restPort: number;
  /** The servers, in serverList order. */
  readonly nodes: readonly NodeAddress[];
  /** Owner (index into `nodes`) of every vBucket. */
  readonly owners: Int32Array;
  /** The owners once the running rebalance is done; null when none runs. */
  readonly forward: Int32Array | null;
}

/** `host:port`, with brackets for an IPv6 literal. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

function rows(owners: Int32Array): number[][] {
  return Array.from(owners, (owner) => [owner]);
}

export function bucketUri(bucket: BucketDescription): string {
  return `/pools/default/buckets/${encodeURIComponent(bucket.name)}?bucket_uuid=${bucket.uuid}`;
}

export function bucketStreamingUri(bucket: BucketDescription): string {
  return `/pools/default/bucketsStreaming/${encodeURIComponent(bucket.name)}?bucket_uuid=${bucket.uuid}`;
}

export function nodesJson(view: ClusterView): NodeJson[] {
  const hostname = hostPort(view.host, view.restPort);
  return view.nodes.map((node, i) => ({
    hostname,
    status: 'healthy',
    clusterMembership: 'active',
    ports: { direct: node.port, proxy: 0 },
    ...(i === 0 ? { thisNode: true as const } : {}),
  }));
}

/** One bucket's config at revision `rev`. */
export function bucketJson(bucket: BucketDescription, view: ClusterView, rev: number): BucketJson {
  const vbucket = bucket.type === BucketType.VBucket;
  const json: BucketJson = {
    rev,
    name: bucket.name,
    bucketType: vbucket ? 'membase' : 'memcached',
    authType: 'sasl',
    saslPassword: bucket.password,
    proxyPort: 0,
    uuid: bucket.uuid,
    uri: bucketUri(bucket),
    streamingUri: bucketStreamingUri(bucket),
    nodeLocator: vbucket ? 'vbucket' : 'ketama',
    nodes: nodesJson(view),
  };
  if (vbucket) {
    const map: VBucketServerMapJson = {
      hashAlgorithm: 'CRC',
      numReplicas: 0,
      serverList: view.nodes.map((n) => hostPort(n.host, n.port)),
      vBucketMap: rows(view.owners),
    };
    if (view.forward !== null) map.vBucketMapForward = rows(view.forward);
    json.vBucketServerMap = map;
  }
  return json;
}
