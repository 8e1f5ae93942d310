/**
 * Number tokens parsed exactly as memcached's safe_strtol / safe_strtoul / safe_strtoull do on 64-bit Linux.
 *
 * memcached parses with C's strtol family into a 64-bit long and then stores into a 32-bit field, so its
 * quirks are part of the wire behaviour a client can observe: leading whitespace and a '+' sign are
 * accepted, a token may end in whitespace followed by anything, "-0" is a valid unsigned number,
 * "4294967297" bytes is stored as 1 and flags 4294967296 as 0. A fast path handles plain short digit runs;
 * everything else goes through an exact BigInt model of strtol.
 */

const MAX_FAST_DIGITS = 15; // below 2^53, so a plain digit run fits a double exactly

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);
const UINT64_MAX = (1n << 64n) - 1n;

function isCSpace(b: number): boolean {
  // isspace() in the C locale: space, \t, \n, \v, \f, \r
  return b === 0x20 || (b >= 0x09 && b <= 0x0d);
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

/** A plain run of 1..15 digits and nothing else, or -1. */
function fastDigits(buf: Buffer, start: number, end: number): number {
  const len = end - start;
  if (len === 0 || len > MAX_FAST_DIGITS) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b < 0x30 || b > 0x39) return -1;
    value = value * 10 + (b - 0x30);
  }
  return value;
}

interface StrtolResult {
  /** The parsed magnitude with its sign applied (unbounded). */
  value: bigint;
  negative: boolean;
  /** True when the number is followed by whitespace or the end of the token, as safe_strto* demand. */
  clean: boolean;
}

/** strtol's scan: whitespace, sign, digits. Returns undefined when no digit was found. */
function scan(buf: Buffer, start: number, end: number): StrtolResult | undefined {
  let i = start;
  while (i < end && isCSpace(buf[i])) i++;
  let negative = false;
  if (i < end && (buf[i] === 0x2b || buf[i] === 0x2d)) {
    negative = buf[i] === 0x2d;
    i++;
  }
  const digitsStart = i;
  while (i < end && isDigit(buf[i])) i++;
  if (i === digitsStart) return undefined;
  const magnitude = BigInt(buf.toString('latin1', digitsStart, i));
  // C strings end at NUL, so a NUL after the digits ends the number like the end of the token does
  const clean = i === end || isCSpace(buf[i]) || buf[i] === 0;
  return { value: negative ? -magnitude : magnitude, negative, clean };
}

/** safe_strtol into an int32_t: a signed 64-bit parse, then truncated to 32 bits. */
export function parseInt32(buf: Buffer, start: number, end: number): number | undefined {
  const fast = fastDigits(buf, start, end);
  if (fast >= 0) return fast | 0;
  const r = scan(buf, start, end);
  if (r === undefined || !r.clean) return undefined;
  if (r.value > INT64_MAX || r.value < INT64_MIN) return undefined; // ERANGE
  return Number(BigInt.asIntN(32, r.value));
}

/** safe_strtol kept as a 64-bit signed value (used where memcached keeps the long). */
export function parseInt64(buf: Buffer, start: number, end: number): bigint | undefined {
  const fast = fastDigits(buf, start, end);
  if (fast >= 0) return BigInt(fast);
  const r = scan(buf, start, end);
  if (r === undefined || !r.clean) return undefined;
  if (r.value > INT64_MAX || r.value < INT64_MIN) return undefined;
  return r.value;
}

/**
 * strtoul/strtoull's unsigned result: negation wraps modulo 2^64; ERANGE past 2^64-1. safe_strtoul(l)
 * then rejects the value only if it looks negative as a signed long and the token holds a '-' anywhere.
 */
function unsigned64(r: StrtolResult, buf: Buffer, start: number, end: number): bigint | undefined {
  const magnitude = r.negative ? -r.value : r.value;
  if (magnitude > UINT64_MAX) return undefined;
  const v = r.negative ? BigInt.asUintN(64, -magnitude) : magnitude;
  if (v > INT64_MAX && hasMinus(buf, start, end)) return undefined;
  return v;
}

function hasMinus(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    if (buf[i] === 0x2d) return true;
    if (buf[i] === 0) return false;
  }
  return false;
}

/** safe_strtoul into a uint32_t: an unsigned 64-bit parse, then truncated to 32 bits. */
export function parseUint32(buf: Buffer, start: number, end: number): number | undefined {
  const fast = fastDigits(buf, start, end);
  if (fast >= 0) return fast >>> 0;
  const r = scan(buf, start, end);
  if (r === undefined || !r.clean) return undefined;
  const v = unsigned64(r, buf, start, end);
  return v === undefined ? undefined : Number(BigInt.asUintN(32, v));
}

/** safe_strtoull: an unsigned 64-bit value. */
export function parseUint64(buf: Buffer, start: number, end: number): bigint | undefined {
  const fast = fastDigits(buf, start, end);
  if (fast >= 0) return BigInt(fast);
  const r = scan(buf, start, end);
  if (r === undefined || !r.clean) return undefined;
  return unsigned64(r, buf, start, end);
}

/**
 * The number at the start of an item's value, as incr/decr read it (safe_strtoull over the stored data,
 * which always ends in "\r\n" in memcached, so a trailing terminator counts as whitespace).
 */
export function parseStoredUint64(value: Buffer): bigint | undefined {
  const fast = fastDigits(value, 0, value.length);
  if (fast >= 0) return BigInt(fast);
  const r = scan(value, 0, value.length);
  if (r === undefined || !r.clean) return undefined;
  return unsigned64(r, value, 0, value.length);
}
