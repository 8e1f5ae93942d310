/**
 * Writers for text-protocol replies (classic and meta), used by the embedded server and the proxy.
 * Fixed replies are shared constant Buffers; variable lines are sized first and built in one allocation,
 * with numbers written digit by digit so no intermediate strings are made.
 */

/** Any unsigned 64-bit count or id: a number when it fits, a bigint when it may not. */
export type U64 = number | bigint;

export const MAX_U64 = 0xffff_ffff_ffff_ffffn;
export const MAX_U32 = 0xffff_ffff;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const ZERO = 0x30;
const MINUS = 0x2d;

const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);
// Above 2^53 a u64 is written as two exact halves: at most 5 digits, then exactly 15.
const LOW_DIGITS = 15;
const LOW_SPLIT = 10n ** 15n;
const POW10: readonly number[] = Array.from({ length: 16 }, (_, i) => 10 ** i);

function line(text: string): Buffer {
  return Buffer.from(`${text}\r\n`, 'latin1');
}

/**
 * Every reply memcached sends as a fixed line, with its "\r\n". Shared between connections: write them,
 * never write into them.
 */
export const TextReply = {
  STORED: line('STORED'),
  NOT_STORED: line('NOT_STORED'),
  EXISTS: line('EXISTS'),
  NOT_FOUND: line('NOT_FOUND'),
  DELETED: line('DELETED'),
  TOUCHED: line('TOUCHED'),
  OK: line('OK'),
  RESET: line('RESET'),
  END: line('END'),
  ERROR: line('ERROR'),
  HD: line('HD'),
  NF: line('NF'),
  NS: line('NS'),
  EX: line('EX'),
  EN: line('EN'),
  MN: line('MN'),
  CRLF: Buffer.from('\r\n', 'latin1'),
} as const;

const VALUE_PREFIX = Buffer.from('VALUE ', 'latin1');
const STAT_PREFIX = Buffer.from('STAT ', 'latin1');
const VERSION_PREFIX = Buffer.from('VERSION ', 'latin1');

function digitsOfSafe(n: number): number {
  let len = 1;
  while (len < 16 && n >= POW10[len]) len++;
  return len;
}

function writeSafe(target: Buffer, offset: number, n: number, len: number): number {
  let i = offset + len;
  while (i > offset) {
    const q = Math.floor(n / 10);
    target[--i] = ZERO + (n - q * 10);
    n = q;
  }
  return offset + len;
}

/**
 * Narrows a u64 to a safe number when it is one (the common case), or to a bigint otherwise.
 * Throws RangeError for negatives, fractions and values above 2^64-1: those are caller bugs that would
 * otherwise put garbage on the wire.
 */
function normalize(n: U64): number | bigint {
  if (typeof n === 'number') {
    if (n >= 0 && n <= Number.MAX_SAFE_INTEGER && Number.isInteger(n)) return n;
    // Floats above 2^53 are still exact integers; 2^64 itself is the first one out of range.
    if (Number.isInteger(n) && n > 0 && n < 2 ** 64) return BigInt(n);
    throw new RangeError(`not an unsigned 64-bit integer: ${n}`);
  }
  if (n < 0n || n > MAX_U64) throw new RangeError(`not an unsigned 64-bit integer: ${n}`);
  return n <= MAX_SAFE_BIG ? Number(n) : n;
}

/** Number of decimal digits of `n` (an unsigned 64-bit integer). */
export function decimalLength(n: U64): number {
  const v = normalize(n);
  if (typeof v === 'number') return digitsOfSafe(v);
  return digitsOfSafe(Number(v / LOW_SPLIT)) + LOW_DIGITS;
}

/** Writes `n` in decimal at `offset` (room must exist) and returns the offset after the last digit. */
export function writeDecimal(target: Buffer, offset: number, n: U64): number {
  const v = normalize(n);
  if (typeof v === 'number') return writeSafe(target, offset, v, digitsOfSafe(v));
  const high = Number(v / LOW_SPLIT);
  const at = writeSafe(target, offset, high, digitsOfSafe(high));
  return writeSafe(target, at, Number(v % LOW_SPLIT), LOW_DIGITS);
}

/** Number of bytes `writeSignedDecimal` needs (for exptimes and deltas that may be negative). */
export function signedDecimalLength(n: number): number {
  if (!Number.isSafeInteger(n)) throw new RangeError(`not a safe integer: ${n}`);
  return n < 0 ? 1 + digitsOfSafe(-n) : digitsOfSafe(n);
}

/** Writes a safe integer, with a leading '-' when negative; returns the offset after it. */
export function writeSignedDecimal(target: Buffer, offset: number, n: number): number {
  if (!Number.isSafeInteger(n)) throw new RangeError(`not a safe integer: ${n}`);
  if (n >= 0) return writeSafe(target, offset, n, digitsOfSafe(n));
  target[offset] = MINUS;
  return writeSafe(target, offset + 1, -n, digitsOfSafe(-n));
}

/** `n` in decimal as a fresh Buffer. */
export function formatDecimal(n: U64): Buffer {
  const out = Buffer.allocUnsafe(decimalLength(n));
  writeDecimal(out, 0, n);
  return out;
}

/** An incr/decr reply: "<n>\r\n". */
export function numberReply(n: U64): Buffer {
  const len = decimalLength(n);
  const out = Buffer.allocUnsafe(len + 2);
  writeDecimal(out, 0, n);
  out[len] = CR;
  out[len + 1] = LF;
  return out;
}

/**
 * "VALUE <key> <flags> <bytes>[ <cas>]\r\n" in one allocation. The data block and its "\r\n"
 * (TextReply.CRLF) are written after it by the caller, so values are never copied.
 */
export function valueHeader(key: Buffer, flags: number, bytes: number, cas?: U64 | null): Buffer {
  if (!(flags <= MAX_U32)) throw new RangeError(`flags out of range: ${flags}`);
  const withCas = cas !== undefined && cas !== null;
  const size =
    VALUE_PREFIX.length +
    key.length +
    1 +
    decimalLength(flags) +
    1 +
    decimalLength(bytes) +
    (withCas ? 1 + decimalLength(cas) : 0) +
    2;
  const out = Buffer.allocUnsafe(size);
  let at = VALUE_PREFIX.copy(out, 0);
  at += key.copy(out, at);
  out[at++] = SP;
  at = writeDecimal(out, at, flags);
  out[at++] = SP;
  at = writeDecimal(out, at, bytes);
  if (withCas) {
    out[at++] = SP;
    at = writeDecimal(out, at, cas);
  }
  out[at++] = CR;
  out[at] = LF;
  return out;
}

type LinePart = string | Buffer | number | bigint;

function partLength(part: LinePart): number {
  if (typeof part === 'string') return part.length;
  if (Buffer.isBuffer(part)) return part.length;
  return decimalLength(part);
}

function writePart(out: Buffer, at: number, part: LinePart): number {
  // latin1 maps each UTF-16 unit to one byte, so the length computed above holds for any string.
  if (typeof part === 'string') return at + out.write(part, at, 'latin1');
  if (Buffer.isBuffer(part)) return at + part.copy(out, at);
  return writeDecimal(out, at, part);
}

/** "STAT <name> <value>\r\n"; strings are written as latin1, numbers as unsigned decimals. */
export function statLine(name: string | Buffer, value: LinePart): Buffer {
  const out = Buffer.allocUnsafe(STAT_PREFIX.length + partLength(name) + 1 + partLength(value) + 2);
  let at = STAT_PREFIX.copy(out, 0);
  at = writePart(out, at, name);
  out[at++] = SP;
  at = writePart(out, at, value);
  out[at++] = CR;
  out[at] = LF;
  return out;
}

/** "VERSION <version>\r\n". */
export function versionReply(version: string): Buffer {
  const out = Buffer.allocUnsafe(VERSION_PREFIX.length + version.length + 2);
  let at = VERSION_PREFIX.copy(out, 0);
  at += out.write(version, at, 'latin1');
  out[at++] = CR;
  out[at] = LF;
  return out;
}

/** Any other reply line, e.g. "SERVER_ERROR out of memory storing object": the text plus "\r\n". */
export function textLine(text: string): Buffer {
  return line(text);
}

/** The meta status codes that are written as a bare line with flag tokens. */
export type MetaStatus = 'HD' | 'NF' | 'NS' | 'EX' | 'EN' | 'MN' | 'ME';

function tokensLength(tokens: readonly (Buffer | string)[]): number {
  let n = 0;
  for (const t of tokens) n += 1 + t.length;
  return n;
}

function writeTokens(out: Buffer, at: number, tokens: readonly (Buffer | string)[]): number {
  for (const t of tokens) {
    out[at++] = SP;
    at = writePart(out, at, t);
  }
  return at;
}

/** "<status>[ <token>]*\r\n", e.g. "HD c12 O123\r\n" or "ME key exp=-1 ...\r\n". */
export function metaLine(status: MetaStatus, tokens: readonly (Buffer | string)[] = []): Buffer {
  if (tokens.length === 0 && status !== 'ME') return TextReply[status];
  const out = Buffer.allocUnsafe(2 + tokensLength(tokens) + 2);
  out.write(status, 0, 'latin1');
  const at = writeTokens(out, 2, tokens);
  out[at] = CR;
  out[at + 1] = LF;
  return out;
}

/** "VA <bytes>[ <token>]*\r\n"; the data block and TextReply.CRLF follow it. */
export function vaHeader(bytes: number, tokens: readonly (Buffer | string)[] = []): Buffer {
  const out = Buffer.allocUnsafe(3 + decimalLength(bytes) + tokensLength(tokens) + 2);
  out[0] = 0x56; // 'V'
  out[1] = 0x41; // 'A'
  out[2] = SP;
  let at = writeDecimal(out, 3, bytes);
  at = writeTokens(out, at, tokens);
  out[at] = CR;
  out[at + 1] = LF;
  return out;
}
