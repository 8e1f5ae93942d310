/**
 * The pieces of a moxi run shared by the single-process path (main.ts) and the -t N worker processes
 * (src/workers/): building the proxy from the options, following a cluster's REST configuration stream,
 * and applying one of its configurations, so that every process does it with the same code.
 */
import type { MoxiOptions } from './args.ts';
import type { Logger } from '../util/log.ts';
import { Proxy, type ClusterBucket, type ProxyOptions } from '../proxy/proxy.ts';
import { RestConfigStream, type RestStreamStatus } from '../config/rest-stream.ts';
import { parseClusterBuckets, type BucketConfig } from '../config/bucket-config.ts';
import { restCredentials, type RestClusterConfig } from '../config/cluster-config.ts';
import { KetamaRouter, parseDistribution } from '../routing/ketama.ts';
import { VBucketRouter } from '../routing/vbucket.ts';
import type { ServerSettings } from '../server/stats.ts';

export function serverSettings(options: MoxiOptions, port: number): ServerSettings {
  return {
    port,
    udpPort: options.udpPort,
    bindAddress: options.bindAddress,
    maxBytes: options.maxBytes,
    maxConns: options.maxConns,
    verbosity: options.verbosity,
    evictions: options.evictions,
    itemSizeMax: options.itemSizeMax,
    threads: options.threads,
    reqsPerEvent: options.reqsPerEvent,
    tcpBacklog: options.backlog,
    bindingProtocol: options.bindingProtocol,
    casEnabled: true,
    growthFactor: options.growthFactor,
    chunkSize: options.chunkSize,
    prefixDelimiter: options.prefixDelimiter,
    detailEnabled: false,
  };
}

/** The proxy for `options.cluster` (which must be set): static pools, or empty until a REST config. */
export function createProxy(
  options: MoxiOptions,
  log: Logger,
  statsProxy?: ProxyOptions['statsProxy'],
  frontCacheForgot?: ProxyOptions['frontCacheForgot'],
): Proxy {
  const cluster = options.cluster;
  if (cluster === null) throw new Error('createProxy: no cluster configuration');
  const proxyOptions: ProxyOptions = {
    behaviors: options.behaviors,
    bindAddress: options.bindAddress,
    threads: options.threads,
    log,
    maxBytes: options.maxBytes,
    memcachedErrors: options.memcachedErrors,
    maxUnreadReplies: options.maxUnreadReplies,
    settings: serverSettings(options, options.port ?? 0),
    ...(statsProxy !== undefined ? { statsProxy } : {}),
    ...(frontCacheForgot !== undefined ? { frontCacheForgot } : {}),
  };
  return cluster.kind === 'static' ? Proxy.fromStatic(cluster, proxyOptions) : Proxy.forCluster(proxyOptions);
}

/** What a REST configuration stream reports. */
export interface RestConfigHandlers {
  /** A configuration document (parsed JSON) from `url`. */
  config(document: unknown, url: string): void;
  /** HTTP 401: the caller ends moxi.ts with AUTH_FAILURE_MESSAGE. */
  authFailure(): void;
}

/** A followed REST configuration stream. */
export interface RestConfigFollower {
  /** Where the stream stands (the admin endpoint shows it). */
  status(): RestStreamStatus;
  close(): Promise<void>;
}

/**
 * Cluster mode: opens the REST configuration stream of the first -z agent (reconnecting and failing
 * over as RestConfigStream does) and reports each configuration.
 */
export function followRestConfig(
  cluster: RestClusterConfig,
  options: MoxiOptions,
  log: Logger,
  handlers: RestConfigHandlers,
): RestConfigFollower {
  const agent = cluster.agents[0];
  if (cluster.agents.length > 1) log.warn('only the first -z REST configuration (before ";") is followed');
  const credentials = restCredentials(agent, options.behaviors);
  const stream = new RestConfigStream(
    { urls: agent.urls, host: agent.host, user: credentials?.user, password: credentials?.password },
    {
      logger: {
        info: (m) => {
          log.info(m);
        },
        warn: (m) => {
          log.warn(m);
        },
        error: (m) => {
          log.error(m);
        },
      },
    },
  );
  stream.on('config', (document, url) => {
    handlers.config(document, url);
  });
  stream.on('auth-failure', () => {
    handlers.authFailure();
  });
  stream.start();
  return {
    status: () => stream.status,
    close: () => {
      stream.close();
      return Promise.resolve();
    },
  };
}

/**
 * Applies one cluster configuration to `proxy`: buckets parsed (errors logged), routed, and handed to
 * applyClusterConfig. Rejects with a ListenError when the shared port cannot be bound.
 */
export function applyRestConfig(
  proxy: Proxy,
  document: unknown,
  url: string,
  options: MoxiOptions,
  log: Logger,
): Promise<void> {
  const { buckets, errors } = parseClusterBuckets(document, url, {
    downstreamWeight: options.behaviors.downstream_weight,
  });
  for (const e of errors) log.error(e);
  proxy.configEvents.configs++;
  if (buckets.length === 0 && errors.length > 0) proxy.configEvents.configFails++;
  const mcsOpts = parseDistribution(options.behaviors.mcs_opts);
  const routed = buckets.map((b): ClusterBucket => ({
    name: b.name,
    password: b.password,
    router: routerFor(b, mcsOpts),
    text: b.config,
    signature: b.signature,
  }));
  log.info({ url, buckets: routed.map((b) => b.name) }, 'cluster configuration');
  return proxy.applyClusterConfig(routed);
}

function routerFor(
  bucket: BucketConfig,
  distribution: ReturnType<typeof parseDistribution>,
): ClusterBucket['router'] {
  return bucket.kind === 'vbucket'
    ? new VBucketRouter(bucket.map)
    : new KetamaRouter(bucket.servers, distribution);
}
