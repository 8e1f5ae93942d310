/**
 * Process entry: parse the command line, print usage or startup errors exactly as moxi does, then start
 * the proxy (-z) and/or the embedded memcached server (-p, or no -z at all).
 */
import { parseCommandLine, type MoxiOptions } from './args.ts';
import { licenseText, usageText } from './usage.ts';
import { createLogger, type Logger } from '../util/log.ts';
import { EmbeddedServer } from '../server/server.ts';
import { ListenError, Proxy, type ClusterBucket } from '../proxy/proxy.ts';
import { RestConfigStream, AUTH_FAILURE_MESSAGE } from '../config/rest-stream.ts';
import { parseClusterBuckets, type BucketConfig } from '../config/bucket-config.ts';
import { restCredentials, type RestClusterConfig } from '../config/cluster-config.ts';
import { KetamaRouter, parseDistribution } from '../routing/ketama.ts';
import { VBucketRouter } from '../routing/vbucket.ts';
import type { ServerSettings } from '../server/stats.ts';

function serverSettings(options: MoxiOptions, port: number): ServerSettings {
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

async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseCommandLine(argv);
  switch (parsed.kind) {
    case 'help':
      process.stdout.write(usageText());
      return 0;
    case 'license':
      process.stdout.write(licenseText());
      return 0;
    case 'exit':
      process.stderr.write(parsed.message + '\n');
      return parsed.code;
    case 'run':
      break;
  }
  const options = parsed.options;
  const log = createLogger(options.verbosity);
  for (const warning of options.warnings) log.warn(warning);

  const stoppable: Array<{ close(): Promise<void> }> = [];
  if (options.cluster !== null) {
    const proxyOptions = {
      behaviors: options.behaviors,
      bindAddress: options.bindAddress,
      threads: options.threads,
      log,
    };
    const proxy =
      options.cluster.kind === 'static'
        ? Proxy.fromStatic(options.cluster, proxyOptions)
        : Proxy.forCluster(proxyOptions);
    try {
      await proxy.listen();
    } catch (err) {
      if (err instanceof ListenError) {
        process.stderr.write(err.message + '\n');
        return 1;
      }
      throw err;
    }
    stoppable.push(proxy);
    if (options.cluster.kind === 'rest') stoppable.push(followCluster(proxy, options.cluster, options, log));
  }

  if (options.port !== null) {
    const server = new EmbeddedServer(serverSettings(options, options.port), log);
    try {
      await server.listen();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      process.stderr.write(`failed to listen on TCP port ${options.port}: ${e.message}\n`);
      return 71; // memcached exits EX_OSERR when it cannot bind
    }
    stoppable.push(server);
  }
  installSignalHandlers(stoppable, log);
  return -1; // keep running
}

/**
 * Cluster mode: follows the REST configuration stream and applies every configuration to the proxy.
 * A 401 ends the process with moxi's message, as does a shared port that cannot be bound.
 */
function followCluster(
  proxy: Proxy,
  cluster: RestClusterConfig,
  options: MoxiOptions,
  log: Logger,
): { close(): Promise<void> } {
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
  stream.on('config', (json, url) => {
    const { buckets, errors } = parseClusterBuckets(json, url, {
      downstreamWeight: options.behaviors.downstream_weight,
    });
    for (const e of errors) log.error(e);
    const mcsOpts = parseDistribution(options.behaviors.mcs_opts);
    const routed = buckets.map((b): ClusterBucket => ({
      name: b.name,
      password: b.password,
      router: routerFor(b, mcsOpts),
      text: b.config,
      signature: b.signature,
    }));
    log.info({ url, buckets: routed.map((b) => b.name) }, 'cluster configuration');
    proxy.applyClusterConfig(routed).catch((err: unknown) => {
      process.stderr.write((err instanceof ListenError ? err.message : String(err)) + '\n');
      process.exit(1);
    });
  });
  stream.on('auth-failure', () => {
    process.stderr.write(AUTH_FAILURE_MESSAGE + '\n');
    process.exit(1);
  });
  stream.start();
  return {
    close: () => {
      stream.close();
      return Promise.resolve();
    },
  };
}

function routerFor(
  bucket: BucketConfig,
  distribution: ReturnType<typeof parseDistribution>,
): ClusterBucket['router'] {
  return bucket.kind === 'vbucket'
    ? new VBucketRouter(bucket.map)
    : new KetamaRouter(bucket.servers, distribution);
}

function installSignalHandlers(services: Array<{ close(): Promise<void> }>, log: Logger): void {
  const stop = (signal: NodeJS.Signals): void => {
    if (signal === 'SIGINT') process.stderr.write('SIGINT handled.\n');
    log.info({ signal }, 'shutting down');
    void Promise.all(services.map((s) => s.close())).then(() => {
      log.flush();
      process.exit(0);
    });
    // never hang on shutdown
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGPIPE', () => undefined);
}

const code = await main(process.argv.slice(2));
// exit at once: a listener opened before a later one failed would otherwise keep the process alive
if (code >= 0) process.exit(code);
