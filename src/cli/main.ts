/**
 * Process entry: parse the command line, print usage or startup errors exactly as moxi does, then start
 * the proxy (-z) and/or the embedded memcached server (-p, or no -z at all).
 */
import { parseCommandLine, type MoxiOptions } from './args.ts';
import { licenseText, usageText } from './usage.ts';
import { createLogger, type Logger } from '../util/log.ts';
import { EmbeddedServer } from '../server/server.ts';
import { ListenError, Proxy } from '../proxy/proxy.ts';
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
    if (options.cluster.kind === 'rest') {
      process.stderr.write('moxi.ts: REST cluster configuration is not available in this build yet\n');
      return 1;
    }
    const proxy = Proxy.fromStatic(options.cluster, {
      behaviors: options.behaviors,
      bindAddress: options.bindAddress,
      threads: options.threads,
      log,
    });
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
