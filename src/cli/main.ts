/**
 * Process entry: parse the command line, print usage or startup errors exactly as moxi does, then start
 * the embedded memcached server (no -z) or report that proxy mode is not available yet.
 */
import { parseCommandLine, type MoxiOptions } from './args.ts';
import { licenseText, usageText } from './usage.ts';
import { createLogger, type Logger } from '../util/log.ts';
import { EmbeddedServer } from '../server/server.ts';
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

  if (options.cluster !== null) {
    process.stderr.write('moxi.ts: proxy mode (-z / REST URL) is not available in this build yet\n');
    return 1;
  }

  const server = new EmbeddedServer(serverSettings(options, options.port ?? 11211), log);
  try {
    await server.listen();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`failed to listen on TCP port ${options.port ?? 11211}: ${e.message}\n`);
    return 71; // memcached exits EX_OSERR when it cannot bind
  }
  installSignalHandlers(server, log);
  return -1; // keep running
}

function installSignalHandlers(server: EmbeddedServer, log: Logger): void {
  const stop = (signal: NodeJS.Signals): void => {
    if (signal === 'SIGINT') process.stderr.write('SIGINT handled.\n');
    log.info({ signal }, 'shutting down');
    void server.close().then(() => {
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
if (code >= 0) process.exitCode = code;
