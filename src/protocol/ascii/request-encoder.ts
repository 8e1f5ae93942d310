/**
 * Builds text-protocol requests (classic and meta) for the proxy's downstream connections. Each command
 * line is sized first and written into one allocation; storage values are passed through as their own
 * Buffer unless small enough that copying beats an extra write chunk. Keys are not validated here.
 */
import {
  decimalLength,
  MAX_U32,
  signedDecimalLength,
  TextReply,
  writeDecimal,
  writeSignedDecimal,
  type U64,
} from './response-encoder.ts';

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;

/** Values up to this size are copied behind their command line, so the request is a single Buffer. */
export const INLINE_VALUE_MAX = 2048;

export type GetCommand = 'get' | 'gets';
export type GatCommand = 'gat' | 'gats';
export type StorageCommand = 'set' | 'add' | 'replace' | 'append' | 'prepend';
export type ArithCommand = 'incr' | 'decr';
export type MetaCommand = 'mg' | 'md' | 'ma' | 'me';
/** A meta flag token such as "v", "T30" or "O123"; strings are written as latin1. */
export type MetaToken = Buffer | string;

const NOREPLY = Buffer.from(' noreply', 'latin1');

/** A word of a command line; numbers are decimal and may be negative (exptime, delay). */
type Part = Buffer | string | number | bigint;

function partLength(part: Part): number {
  if (typeof part === 'string') return part.length;
  if (typeof part === 'number') return part < 0 ? signedDecimalLength(part) : decimalLength(part);
  if (typeof part === 'bigint') return decimalLength(part);
  return part.length;
}

function writePart(out: Buffer, at: number, part: Part): number {
  if (typeof part === 'string') return at + out.write(part, at, 'latin1');
  if (typeof part === 'number')
    return part < 0 ? writeSignedDecimal(out, at, part) : writeDecimal(out, at, part);
  if (typeof part === 'bigint') return writeDecimal(out, at, part);
  return at + part.copy(out, at);
}

/**
 * "<p0> <p1> ... <pn>[ noreply]\r\n" plus `tailRoom` spare bytes at the end (for an inlined value).
 * Returns the Buffer and writes nothing into the tail.
 */
function buildLine(parts: readonly Part[], noreply: boolean, tailRoom = 0): Buffer {
  let size = parts.length - 1 + 2 + (noreply ? NOREPLY.length : 0) + tailRoom;
  for (const p of parts) size += partLength(p);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) out[at++] = SP;
    at = writePart(out, at, parts[i]);
  }
  if (noreply) at += NOREPLY.copy(out, at);
  out[at++] = CR;
  out[at] = LF;
  return out;
}

function checkFlags(flags: number): number {
  if (!(flags >= 0 && flags <= MAX_U32 && Number.isInteger(flags))) {
    throw new RangeError(`flags out of range: ${flags}`);
  }
  return flags;
}

/** Command line, then the value and "\r\n": one Buffer when the value is small, three otherwise. */
function withData(parts: readonly Part[], noreply: boolean, data: Buffer): Buffer[] {
  if (data.length > INLINE_VALUE_MAX) return [buildLine(parts, noreply), data, TextReply.CRLF];
  const out = buildLine(parts, noreply, data.length + 2);
  let at = out.length - data.length - 2;
  at += data.copy(out, at);
  out[at] = CR;
  out[at + 1] = LF;
  return [out];
}

/** Multi-key retrievals are re-grouped per server on every request, so they skip the generic builder. */
function retrieval(command: string, exptime: number | null, keys: readonly Buffer[]): Buffer {
  if (keys.length === 0) throw new RangeError(`${command} needs at least one key`);
  let size = command.length + (exptime === null ? 0 : 1 + partLength(exptime)) + keys.length + 2;
  for (const key of keys) size += key.length;
  const out = Buffer.allocUnsafe(size);
  let at = out.write(command, 0, 'latin1');
  if (exptime !== null) {
    out[at++] = SP;
    at = writePart(out, at, exptime);
  }
  for (const key of keys) {
    out[at++] = SP;
    at += key.copy(out, at);
  }
  out[at++] = CR;
  out[at] = LF;
  return out;
}

/** "get|gets <key>*\r\n". */
export function encodeGet(command: GetCommand, keys: readonly Buffer[]): Buffer {
  return retrieval(command, null, keys);
}

/** "gat|gats <exptime> <key>*\r\n". */
export function encodeGat(command: GatCommand, exptime: number, keys: readonly Buffer[]): Buffer {
  return retrieval(command, exptime, keys);
}

/** "set|add|replace|append|prepend <key> <flags> <exptime> <bytes>[ noreply]\r\n<data>\r\n". */
export function encodeStorage(
  command: StorageCommand,
  key: Buffer,
  flags: number,
  exptime: number,
  data: Buffer,
  noreply = false,
): Buffer[] {
  return withData([command, key, checkFlags(flags), exptime, data.length], noreply, data);
}

/** "cas <key> <flags> <exptime> <bytes> <cas unique>[ noreply]\r\n<data>\r\n". */
export function encodeCas(
  key: Buffer,
  flags: number,
  exptime: number,
  data: Buffer,
  cas: U64,
  noreply = false,
): Buffer[] {
  return withData(['cas', key, checkFlags(flags), exptime, data.length, cas], noreply, data);
}

/** "incr|decr <key> <delta>[ noreply]\r\n". */
export function encodeArith(command: ArithCommand, key: Buffer, delta: U64, noreply = false): Buffer {
  // The generic writer accepts negative numbers for exptimes; a delta is unsigned.
  if (delta < 0) throw new RangeError(`negative delta: ${delta}`);
  return buildLine([command, key, delta], noreply);
}

/** "delete <key>[ noreply]\r\n" (memcached 1.6 rejects the old time argument unless it is 0). */
export function encodeDelete(key: Buffer, noreply = false): Buffer {
  return buildLine(['delete', key], noreply);
}

/** "touch <key> <exptime>[ noreply]\r\n". */
export function encodeTouch(key: Buffer, exptime: number, noreply = false): Buffer {
  return buildLine(['touch', key, exptime], noreply);
}

/** "flush_all[ <delay>][ noreply]\r\n". */
export function encodeFlushAll(delay?: number, noreply = false): Buffer {
  return buildLine(delay === undefined ? ['flush_all'] : ['flush_all', delay], noreply);
}

/** "stats[ <arg>]\r\n", e.g. arg "settings", "reset", "items" or "cachedump 1 10". */
export function encodeStats(arg?: string | Buffer): Buffer {
  return buildLine(arg === undefined || arg.length === 0 ? ['stats'] : ['stats', arg], false);
}

const VERSION = Buffer.from('version\r\n', 'latin1');
const META_NOOP = Buffer.from('mn\r\n', 'latin1');

/** "version\r\n" (a shared constant: write it, never write into it). */
export function encodeVersion(): Buffer {
  return VERSION;
}

/** "verbosity <level>[ noreply]\r\n". */
export function encodeVerbosity(level: number, noreply = false): Buffer {
  return buildLine(['verbosity', level], noreply);
}

/** "mg|md|ma|me <key>[ <flag>]*\r\n". */
export function encodeMeta(command: MetaCommand, key: Buffer, flags: readonly MetaToken[] = []): Buffer {
  return buildLine([command, key, ...flags], false);
}

/** "mn\r\n" (a shared constant: write it, never write into it). */
export function encodeMetaNoop(): Buffer {
  return META_NOOP;
}

/** "ms <key> <datalen>[ <flag>]*\r\n<data>\r\n". */
export function encodeMetaSet(key: Buffer, flags: readonly MetaToken[], data: Buffer): Buffer[] {
  return withData(['ms', key, data.length, ...flags], false, data);
}
