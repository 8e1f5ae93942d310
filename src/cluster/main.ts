/**
 * bin/moxi-cluster: a stand-in for a Couchbase/Membase cluster manager (see args.ts for the flags).
 * Starts the nodes, makes their vBuckets Active, then the control and REST listeners, and prints
 * one line to stdout when everything listens:
 *
 *   moxi-cluster ready rest=http://H:P control=http://H:P nodes=H:P,H:P buckets=default(vbucket),...
 *
 * A startup failure (a port taken, say) is printed to stderr as "moxi-cluster: ..." and exits 1.
 */
import { createLogger, type Logger } from '../util/log.ts';
import { parseCommandLine, usageText } from './args.ts';
import { Cluster } from './cluster.ts';
import { hostPort } from './config-json.ts';
import { ControlServer } from './control.ts';
import { RestServer } from './rest.ts';

const SHUTDOWN_LIMIT_MS = 3000;

interface Running {
  cluster: Cluster;
  rest: RestServer | null;
  control: ControlServer | null;
}

async function stopAll(running: Running): Promise<void> {
  await Promise.allSettled([running.control?.close(), running.rest?.close(), running.cluster.close()]);
}

function fail(message: string): number {
  process.stderr.write(`moxi-cluster: ${message}\n`);
  return 1;
}

async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseCommandLine(argv);
  if (parsed.kind === 'help') {
    process.stdout.write(usageText());
    return 0;
  }
  if (parsed.kind === 'error') {
    return fail(`${parsed.message}\nTry "moxi-cluster --help".`);
  }
  const options = parsed.options;
  const log = createLogger(options.verbosity).child({ component: 'moxi-cluster' });
  if (options.memcached !== null) {
    log.warn(
      'real memcached servers: a static map (no rebalance); buckets share one keyspace and SASL passwords are not enforced',
    );
    if (options.buckets.some((b) => b.password !== '')) {
      log.warn('memcached without SASL cannot log a proxy in to a bucket with a password');
    }
  }
  const cluster = new Cluster(options, log);
  const running: Running = { cluster, rest: null, control: null };
  let shuttingDown = false;
  const shutdown = (reason: string): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ reason }, 'shutting down');
    setTimeout(() => process.exit(0), SHUTDOWN_LIMIT_MS).unref();
    void stopAll(running).then(() => {
      log.flush();
      process.exit(0);
    });
  };
  try {
    await cluster.start();
    running.rest = new RestServer(
      cluster,
      { host: options.host, port: options.restPort, admin: options.admin },
      log.child({ part: 'rest' }),
    );
    running.control = new ControlServer(
      cluster,
      running.rest,
      {
        host: options.host,
        port: options.controlPort,
        shutdown: () => {
          shutdown('POST /shutdown');
        },
      },
      log.child({ part: 'control' }),
    );
    await running.control.start();
    await running.rest.start();
  } catch (err) {
    await stopAll(running);
    return fail((err as Error).message);
  }
  installSignalHandlers(shutdown, log);
  const nodes = cluster.nodes.map((n) => hostPort(n.host, n.port)).join(',');
  const buckets = cluster.buckets.map((b) => `${b.name}(${b.type})`).join(',');
  process.stdout.write(
    `moxi-cluster ready rest=${running.rest.url} control=${running.control.url} nodes=${nodes} buckets=${buckets}\n`,
  );
  return -1; // keep running
}

function installSignalHandlers(shutdown: (reason: string) => void, log: Logger): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      log.info({ signal }, 'signal');
      shutdown(signal);
    });
  }
  process.on('SIGPIPE', () => undefined);
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);
