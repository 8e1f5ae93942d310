/**
 * The exact error lines moxi sends to text-protocol clients (moxi-spec §6.3 and §7.4), without their
 * "\r\n". A client that parses moxi's errors must see the same bytes from moxi.ts.
 */
import { Status } from './binary/opcodes.ts';

export const ProxyError = {
  downstreamTimeout: 'SERVER_ERROR proxy downstream timeout',
  downstreamTimeoutHost: (host: string): string => `SERVER_ERROR proxy downstream timeout ${host}`,
  writeToDownstream: 'SERVER_ERROR proxy write to downstream',
  writeToDownstreamHost: (host: string): string => `SERVER_ERROR proxy write to downstream ${host}`,
  downstreamClosed: 'SERVER_ERROR proxy downstream closed',
  downstreamClosedHost: (host: string): string => `SERVER_ERROR proxy downstream closed ${host}`,
  /** moxi sent this one without "\r\n"; moxi.ts ends it like every other line. */
  waitQueueTimeout: 'SERVER_ERROR proxy wait queue timeout',
  outOfDownstreams: 'SERVER_ERROR proxy out of downstreams',
  nullBucket: 'SERVER_ERROR unauthorized, null bucket',
  flushNotSupported: 'SERVER_ERROR flush_all not supported',
  arithError: 'SERVER_ERROR a2b arith error',
  parseRequest: 'CLIENT_ERROR a2b parse request',
} as const;

/**
 * memcached's own error lines (proto_text.c), which the embedded server, the proxy's own checks and
 * (`--memcached-errors`) its a2b replies send.
 */
export const MemcachedError = {
  error: 'ERROR',
  badFormat: 'CLIENT_ERROR bad command line format',
  badDataChunk: 'CLIENT_ERROR bad data chunk',
  invalidExptime: 'CLIENT_ERROR invalid exptime argument',
  invalidDelta: 'CLIENT_ERROR invalid numeric delta argument',
  deleteUsage: 'CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]',
  tooLarge: 'SERVER_ERROR object too large for cache',
  outOfMemoryStoring: 'SERVER_ERROR out of memory storing object',
  nonNumeric: 'CLIENT_ERROR cannot increment or decrement non-numeric value',
  outOfMemory: 'SERVER_ERROR out of memory',
  outOfMemoryGet: 'SERVER_ERROR out of memory writing get response',
} as const;

/**
 * The lines a text client gets for a binary server's error statuses (a2b): moxi's own texts, or
 * memcached's where memcached has one (`--memcached-errors`). Clients act on them: pecl-memcache marks
 * a server failed after a SERVER_ERROR it does not know (so `SERVER_ERROR a2b arith error` for an incr
 * of a non-numeric value costs it the server for 15 s), and libmemcached tells a value too large
 * (`object too large for cache`) from other failures.
 */
export interface A2bErrorTexts {
  /** The line for a status with no command-specific meaning (storage, touch). */
  status(status: number): string;
  /** The line for an incr/decr that failed with `status`. */
  arith(status: number): string;
}

export const MoxiA2bErrors: A2bErrorTexts = {
  status: a2bStatusText,
  arith: () => ProxyError.arithError,
};

export const MemcachedA2bErrors: A2bErrorTexts = {
  status(status) {
    if (status === Status.E2BIG) return MemcachedError.tooLarge;
    if (status === Status.ENOMEM) return MemcachedError.outOfMemoryStoring;
    return a2bStatusText(status);
  },
  arith(status) {
    if (status === Status.DELTA_BADVAL) return MemcachedError.nonNumeric;
    if (status === Status.ENOMEM) return MemcachedError.outOfMemory;
    return ProxyError.arithError;
  },
};

/** moxi's a2b_out_error: the text line for a binary status that has no command-specific meaning. */
export function a2bStatusText(status: number): string {
  switch (status) {
    case Status.E2BIG:
      return 'SERVER_ERROR a2b e2big';
    case Status.EINVAL:
      return 'SERVER_ERROR a2b einval';
    case Status.NOT_STORED:
      return 'NOT_STORED';
    case Status.DELTA_BADVAL:
      return 'SERVER_ERROR a2b delta_badval';
    case Status.NOT_MY_VBUCKET:
      return 'SERVER_ERROR a2b not_my_vbucket';
    case Status.AUTH_ERROR:
      return 'SERVER_ERROR a2b auth_error';
    case Status.AUTH_CONTINUE:
      return 'SERVER_ERROR a2b auth_continue';
    case Status.UNKNOWN_COMMAND:
      return 'SERVER_ERROR a2b unknown';
    case Status.ENOMEM:
      return 'SERVER_ERROR a2b out of memory';
    case Status.NOT_SUPPORTED:
      return 'SERVER_ERROR a2b not supported';
    case Status.EINTERNAL:
      return 'SERVER_ERROR a2b einternal';
    case Status.EBUSY:
      return 'SERVER_ERROR a2b ebusy';
    case Status.ETMPFAIL:
      return 'SERVER_ERROR temporary failure';
    default:
      return 'SERVER_ERROR a2b error';
  }
}
