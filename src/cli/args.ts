/**
 * moxi's command line (memcached's flags plus -z / -Z and a trailing REST URL) parsed into typed options,
 * with moxi's and memcached's exact startup messages. Parsing does no I/O except reading the files a
 * -z or -Z value names; callers print the messages and exit.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseAdminAddress, type AdminAddress } from '../admin/address.ts';
import { UNREAD_REPLIES_LIMIT } from '../upstream/unread-replies.ts';
import { type Behaviors, parseBehaviors, proxyDefaults, defaultBehaviors } from '../config/behaviors.ts';
import {
  type ClusterConfig,
  ConfigError,
  parseClusterConfig,
  positionalConfig,
  resolveConfigArgument,
} from '../config/cluster-config.ts';

/** The flag table: one row per option, the same rows drive parseArgs and the usage text. */
export const OPTIONS = {
  p: {
    type: 'string',
    arg: '<num>',
    help: 'TCP port of the embedded memcached server (default: 11211 without -z)',
  },
  U: {
    type: 'string',
    arg: '<num>',
    help: 'UDP port (accepted for compatibility; only 0 = off is supported)',
  },
  l: {
    type: 'string',
    arg: '<addr>',
    help: 'interface to listen on (default: all); applies to proxy ports too',
  },
  t: {
    type: 'string',
    arg: '<num>',
    help:
      'proxy: event loops, one worker process each, sharing the ports (default: cores - 1,\n' +
      `at least 1, at most 4, so that a memcached on this host keeps a core: ${defaultThreads()} here);\n` +
      'embedded server: only reported in stats',
  },
  c: { type: 'string', arg: '<num>', help: 'max simultaneous connections (default: 1024)' },
  m: { type: 'string', arg: '<num>', help: 'item memory in megabytes (default: 64)' },
  M: { type: 'boolean', help: 'return error on memory exhausted (rather than removing items)' },
  I: {
    type: 'string',
    arg: '<size>',
    help: 'max item size, e.g. 1m or 512k (default: 1m, min: 1k, max: 1024m)',
  },
  B: { type: 'string', arg: '<proto>', help: 'binding protocol: ascii, binary, or auto (default)' },
  R: { type: 'string', arg: '<num>', help: 'max requests per event (default: 20)' },
  b: { type: 'string', arg: '<num>', help: 'listen backlog (default: 1024)' },
  C: { type: 'boolean', help: 'disable use of CAS (accepted; CAS stays on)' },
  f: { type: 'string', arg: '<factor>', help: 'chunk size growth factor, reported in stats (default: 1.25)' },
  n: { type: 'string', arg: '<bytes>', help: 'minimum item chunk size, reported in stats (default: 48)' },
  D: {
    type: 'string',
    arg: '<char>',
    help: 'delimiter between key prefixes and IDs in stats detail (default: ":")',
  },
  z: { type: 'string', multiple: true, arg: '<cfg>', help: 'cluster configuration (see below)' },
  Z: { type: 'string', multiple: true, arg: '<k=v,...>', help: 'proxy behaviors (see below)' },
  v: { type: 'boolean', multiple: true, help: 'verbose; -vv more verbose; -vvv internal state transitions' },
  admin: {
    type: 'string',
    arg: '<[addr:]port>',
    help:
      'HTTP admin endpoint: /metrics (Prometheus), /healthz, / (live dashboard),\n' +
      '/debug/cpu-profile?seconds=N (a CPU profile of the running proxy);\n' +
      'off by default; the address defaults to 127.0.0.1',
  },
  'memcached-errors': {
    type: 'boolean',
    help:
      "with a binary downstream, answer text clients memcached's error lines (e.g. SERVER_ERROR\n" +
      "object too large for cache) instead of moxi's a2b ones (SERVER_ERROR a2b e2big)",
  },
  'max-unread': {
    type: 'string',
    arg: '<size>',
    help:
      'proxy: most reply bytes held for clients, per event loop (replies written to clients\n' +
      'that do not read them, multi-get values not yet sent), e.g. 1g; past it the client\n' +
      'with the most unread replies is disconnected; 0 = no cap (default: 512m)',
  },
  h: { type: 'boolean', help: 'print this help and exit' },
  i: { type: 'boolean', help: 'print license information and exit' },
} as const;

/**
 * -t's default: one event loop (worker process) per core but one, so that a memcached on the same host
 * (the usual deployment: moxi next to its clients or its servers) keeps a core and is not starved by
 * the proxy it serves; at least 1, and at most 4, moxi's own default, past which more processes mostly
 * multiply downstream connections (each worker has its own pool). 1 on a 2-core machine.
 */
export function defaultThreads(cores: number = os.availableParallelism()): number {
  return Math.max(1, Math.min(4, cores - 1));
}

const ILLEGAL_ARGUMENT = (flag: string): string => `Illegal argument "${flag}"`;

export const BindingProtocol = { Auto: 'auto-negotiate', Ascii: 'ascii', Binary: 'binary' } as const;
export type BindingProtocol = (typeof BindingProtocol)[keyof typeof BindingProtocol];

export interface MoxiOptions {
  /** -p given (or defaulted): the embedded memcached server's port; null when none is served. */
  port: number | null;
  udpPort: number;
  bindAddress: string | null;
  threads: number;
  maxConns: number;
  maxBytes: number;
  evictions: boolean;
  itemSizeMax: number;
  bindingProtocol: BindingProtocol;
  reqsPerEvent: number;
  backlog: number;
  growthFactor: number;
  chunkSize: number;
  prefixDelimiter: string;
  verbosity: number;
  /** -z (or the positional URL), parsed; null when moxi runs only as a memcached server. */
  cluster: ClusterConfig | null;
  /** The raw -z text after file resolution. */
  clusterText: string | null;
  behaviors: Behaviors;
  /** Non-fatal messages to log at startup (bad -Z keys and the like). */
  warnings: string[];
  /** --admin: where the HTTP admin endpoint listens; null when off. */
  admin: AdminAddress | null;
  /** --memcached-errors: memcached's error lines, not moxi's, for text clients of binary servers. */
  memcachedErrors: boolean;
  /** --max-unread: bytes; 0 = no cap. */
  maxUnreadReplies: number;
}

export type ParsedCommandLine =
  | { kind: 'run'; options: MoxiOptions }
  | { kind: 'help' }
  | { kind: 'license' }
  /** Exit at once with this status after printing `message` to stderr. */
  | { kind: 'exit'; code: number; message: string };

/** C's atoi: optional whitespace and sign, then digits; anything else stops it; no digits gives 0. */
export function atoi(text: string): number {
  const m = /^[\s]*([+-]?\d+)/.exec(text);
  if (m === null) return 0;
  return Number(BigInt.asIntN(32, BigInt(m[1])));
}

/** memcached's -I parser: a number with an optional k/m suffix. */
function parseItemSize(text: string): number {
  const unit = text.at(-1);
  if (unit === 'k' || unit === 'K') return atoi(text.slice(0, -1)) * 1024;
  if (unit === 'm' || unit === 'M') return atoi(text.slice(0, -1)) * 1024 * 1024;
  return atoi(text);
}

/** --max-unread: bytes with an optional k/m/g suffix; null when it is not one. */
export function parseByteSize(text: string): number | null {
  const m = /^(\d+)([kmg]?)$/i.exec(text.trim());
  if (m === null) return null;
  const unit = m[2].toLowerCase();
  const scale = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  return Number(m[1]) * scale;
}

const ITEM_SIZE_MAX_LOWER_LIMIT = 1024;
const ITEM_SIZE_MAX_UPPER_LIMIT = 1024 * 1024 * 1024;
/** memcached's exit status for usage errors (sysexits' EX_USAGE). */
export const EX_USAGE = 64;

export function parseCommandLine(
  argv: readonly string[],
  readFile: (path: string) => string | Uint8Array = (p) => readFileSync(p),
): ParsedCommandLine {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: Object.fromEntries(
        Object.entries(OPTIONS).map(([name, o]) => [
          name,
          {
            type: o.type,
            ...(name.length === 1 ? { short: name } : {}),
            ...('multiple' in o ? { multiple: true } : {}),
          },
        ]),
      ),
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    return { kind: 'exit', code: 1, message: argumentError(err) };
  }
  const v = parsed.values as Record<string, string | boolean | Array<string | boolean> | undefined>;
  const str = (k: string): string | undefined => v[k] as string | undefined;
  if (v.h === true) return { kind: 'help' };
  if (v.i === true) return { kind: 'license' };

  const warnings: string[] = [];
  const defaults = {
    maxConns: 1024,
    maxBytes: 64 * 1024 * 1024,
    itemSizeMax: 1024 * 1024,
    threads: defaultThreads(),
  };
  const options: MoxiOptions = {
    port: null,
    udpPort: 0,
    bindAddress: str('l') ?? null,
    threads: defaults.threads,
    maxConns: defaults.maxConns,
    maxBytes: defaults.maxBytes,
    evictions: v.M !== true,
    itemSizeMax: defaults.itemSizeMax,
    bindingProtocol: BindingProtocol.Auto,
    reqsPerEvent: 20,
    backlog: 1024,
    growthFactor: 1.25,
    chunkSize: 48,
    prefixDelimiter: ':',
    verbosity: Array.isArray(v.v) ? v.v.length : 0,
    cluster: null,
    clusterText: null,
    behaviors: defaultBehaviors(),
    warnings,
    admin: null,
    memcachedErrors: v['memcached-errors'] === true,
    maxUnreadReplies: UNREAD_REPLIES_LIMIT,
  };

  if (str('max-unread') !== undefined) {
    const bytes = parseByteSize(str('max-unread')!);
    if (bytes === null || !Number.isSafeInteger(bytes)) {
      return {
        kind: 'exit',
        code: 1,
        message: `Illegal --max-unread "${str('max-unread')!}": expected bytes with an optional k, m or g, e.g. 1g (0: no cap)`,
      };
    }
    options.maxUnreadReplies = bytes;
  }

  if (str('admin') !== undefined) {
    options.admin = parseAdminAddress(str('admin')!);
    if (options.admin === null) {
      return {
        kind: 'exit',
        code: 1,
        message: `Illegal --admin "${str('admin')!}": expected [addr:]port, e.g. 9111 or 0.0.0.0:9111`,
      };
    }
  }
  if (str('p') !== undefined) options.port = atoi(str('p')!);
  if (str('U') !== undefined) {
    options.udpPort = atoi(str('U')!);
    if (options.udpPort !== 0) warnings.push('UDP is not supported; -U is ignored');
  }
  if (str('c') !== undefined) {
    options.maxConns = atoi(str('c')!);
    if (options.maxConns <= 0)
      return { kind: 'exit', code: 1, message: 'Maximum connections must be greater than 0' };
  }
  if (str('t') !== undefined) {
    options.threads = atoi(str('t')!);
    if (options.threads <= 0)
      return { kind: 'exit', code: 1, message: 'Number of threads must be greater than 0' };
  }
  if (str('m') !== undefined) options.maxBytes = atoi(str('m')!) * 1024 * 1024;
  if (str('R') !== undefined) {
    options.reqsPerEvent = atoi(str('R')!);
    if (options.reqsPerEvent <= 0) {
      return { kind: 'exit', code: 1, message: 'Number of requests per event must be greater than 0' };
    }
  }
  if (str('b') !== undefined) options.backlog = atoi(str('b')!);
  if (str('f') !== undefined) {
    options.growthFactor = Number.parseFloat(str('f')!) || 0;
    if (options.growthFactor <= 1.0)
      return { kind: 'exit', code: 1, message: 'Factor must be greater than 1' };
  }
  if (str('n') !== undefined) {
    options.chunkSize = atoi(str('n')!);
    if (options.chunkSize === 0)
      return { kind: 'exit', code: 1, message: 'Chunk size must be greater than 0' };
  }
  if (str('D') !== undefined) {
    const d = str('D')!;
    if (d.length === 0) return { kind: 'exit', code: 1, message: 'No delimiter specified' };
    options.prefixDelimiter = d[0]!;
  }
  if (str('B') !== undefined) {
    const b = str('B')!;
    if (b === 'ascii') options.bindingProtocol = BindingProtocol.Ascii;
    else if (b === 'binary') options.bindingProtocol = BindingProtocol.Binary;
    else if (b === 'auto') options.bindingProtocol = BindingProtocol.Auto;
    else {
      return {
        kind: 'exit',
        code: EX_USAGE,
        message: `Invalid value for binding protocol: ${b}\n -- should be one of auto, binary, or ascii`,
      };
    }
  }
  if (str('I') !== undefined) {
    options.itemSizeMax = parseItemSize(str('I')!);
    if (options.itemSizeMax < ITEM_SIZE_MAX_LOWER_LIMIT) {
      return { kind: 'exit', code: EX_USAGE, message: 'Item max size cannot be less than 1024 bytes.' };
    }
    if (options.itemSizeMax > ITEM_SIZE_MAX_UPPER_LIMIT) {
      return { kind: 'exit', code: EX_USAGE, message: 'Cannot set item size limit higher than a gigabyte.' };
    }
  }
  if (options.itemSizeMax > options.maxBytes / 2) {
    return {
      kind: 'exit',
      code: EX_USAGE,
      message: 'Cannot set item size limit higher than 1/2 of memory max.',
    };
  }

  // -z / -Z: the last occurrence wins (getopt overwrites), values naming files are read.
  try {
    const zList = (v.z as string[] | undefined) ?? [];
    const zList2 = (v.Z as string[] | undefined) ?? [];
    let clusterText = zList.length > 0 ? zList[zList.length - 1] : undefined;
    if (clusterText === undefined) clusterText = positionalConfig(parsed.positionals);
    if (clusterText !== undefined) {
      options.clusterText = resolveConfigArgument(clusterText, readFile, 'cfg');
      options.cluster = parseClusterConfig(options.clusterText);
      if (options.cluster.kind === 'rest') warnings.push(...options.cluster.warnings);
    }
    const base = options.cluster !== null ? proxyDefaults() : defaultBehaviors();
    if (zList2.length > 0) {
      const text = resolveConfigArgument(zList2[zList2.length - 1], readFile, 'behavior');
      const result = parseBehaviors(text, base, { verbose: options.verbosity });
      options.behaviors = result.behaviors;
      warnings.push(...result.errors);
    } else {
      options.behaviors = base;
    }
  } catch (err) {
    if (err instanceof ConfigError) return { kind: 'exit', code: err.exitCode, message: err.message };
    throw err;
  }

  // Without a cluster configuration moxi.ts is a memcached server; -p defaults to memcached's 11211.
  if (options.cluster === null && options.port === null) options.port = 11211;
  return { kind: 'run', options };
}

function argumentError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const message = e.message ?? String(err);
  const flag = /'-([^'\s])/.exec(message)?.[1] ?? /-([A-Za-z])\b/.exec(message)?.[1];
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag !== undefined) {
    // getopt's complaint for a flag missing its argument, then moxi's
    return `option requires an argument -- '${flag}'\n${ILLEGAL_ARGUMENT('?')}`;
  }
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag !== undefined) return ILLEGAL_ARGUMENT(flag);
  return ILLEGAL_ARGUMENT(flag ?? '?');
}
