/**
 * Process entry: parse the command line, print usage or startup errors exactly as moxi does, then start
 * the proxy (-z) and/or the embedded memcached server (-p, or no -z at all). With -t N > 1 the proxy
 * runs in N worker processes (src/workers/) and this process coordinates them; the embedded server,
 * if any, stays here (one store). -t 1 runs everything in this process, without fork or IPC.
 */
import { readFileSync } from 'node:fs';
import { parseCommandLine } from './args.ts';
import { licenseText, usageText } from './usage.ts';
import {
  applyRestConfig,
  createProxy,
  followRestConfig,
  serverSettings,
  type RestConfigFollower,
} from './proxy-service.ts';
import { createLogger, type Logger } from '../util/log.ts';
import { EmbeddedServer } from '../server/server.ts';
import { ListenError, type Proxy } from '../proxy/proxy.ts';
import { statsProxySnapshot } from '../proxy/stats-proxy.ts';
import { adminSnapshot, embeddedSnapshot, workerSnapshot } from '../admin/snapshot.ts';
import { AUTH_FAILURE_MESSAGE } from '../config/rest-stream.ts';
import { WorkerGroup } from '../workers/primary.ts';
import { tuneHeap } from './heap.ts';

async function main(argv: readonly string[]): Promise<number> {
  tuneHeap();
  // what -z ./file and -Z ./file named, as read, for -t N workers to parse the same bytes
  const files: Record<string, string> = {};
  const parsed = parseCommandLine(argv, (path) => {
    const contents = readFileSync(path);
    files[path] = contents.toString('base64');
    return contents;
  });
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
  let workers: WorkerGroup | null = null;
  let singleProxy: Proxy | null = null;
  let restFollower: RestConfigFollower | null = null;
  let server: EmbeddedServer | null = null;
  if (options.cluster !== null && options.threads > 1) {
    // -t N: N worker processes share the proxy ports; this process only coordinates them
    workers = new WorkerGroup({ options, argv, files, log });
    stoppable.push(workers);
    // before the first fork: a signal during startup stops the workers too
    installSignalHandlers(stoppable, log);
    await workers.start();
  } else if (options.cluster !== null) {
    const proxy = createProxy(options, log);
    singleProxy = proxy;
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
    if (options.cluster.kind === 'rest') {
      // Cluster mode: a 401 ends the process with moxi's message, as does a shared port that cannot be bound
      restFollower = followRestConfig(options.cluster, options, log, {
        config: (document, url) => {
          applyRestConfig(proxy, document, url, options, log).catch((err: unknown) => {
            process.stderr.write((err instanceof ListenError ? err.message : String(err)) + '\n');
            process.exit(1);
          });
        },
        authFailure: () => {
          process.stderr.write(AUTH_FAILURE_MESSAGE + '\n');
          process.exit(1);
        },
      });
      stoppable.push(restFollower);
    }
  }

  if (options.port !== null) {
    server = new EmbeddedServer(serverSettings(options, options.port), log);
    try {
      await server.listen();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      process.stderr.write(`failed to listen on TCP port ${options.port}: ${e.message}\n`);
      await workers?.close();
      return 71; // memcached exits EX_OSERR when it cannot bind
    }
    stoppable.push(server);
  }
  if (options.admin !== null) {
    const group = workers;
    const single = singleProxy;
    const rest = restFollower;
    const embedded = server;
    // loaded only when asked for: prom-client and node:http are no cost to a proxy without --admin
    const { AdminServer } = await import('../admin/http.ts');
    const admin = new AdminServer(
      options.admin,
      {
        snapshot: async () => {
          const serving =
            group !== null
              ? await group.workerSnapshots()
              : single !== null
                ? [workerSnapshot(statsProxySnapshot(single))]
                : [];
          const embeddedNow = embedded !== null ? embeddedSnapshot(embedded) : null;
          const configSource = group !== null ? group.configSourceStatus() : (rest?.status() ?? null);
          return adminSnapshot(options.threads, serving, embeddedNow, options.cluster !== null, configSource);
        },
        cpuProfile: async (seconds, worker) => {
          if (group !== null) return group.cpuProfile(worker ?? 1, seconds);
          const { captureCpuProfile, CpuProfileError } = await import('../admin/cpu-profile.ts');
          if (worker !== null && worker !== 1) {
            throw new CpuProfileError(
              404,
              `there is no worker ${worker}: moxi.ts runs in one process (-t 1)`,
            );
          }
          return captureCpuProfile(seconds);
        },
      },
      log,
    );
    try {
      await admin.listen();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const where = `${options.admin.host}:${options.admin.port}`;
      process.stderr.write(`failed to listen on admin address ${where}: ${e.message}\n`);
      await Promise.allSettled(stoppable.map((s) => s.close()));
      return 71;
    }
    stoppable.push(admin);
  }
  if (workers === null) installSignalHandlers(stoppable, log);
  return -1; // keep running
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
