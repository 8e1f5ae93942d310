/**
 * The key hashes moxi's routing uses, over raw key bytes (keys are arbitrary bytes, never decoded):
 *
 *   md5        ketama points and ketama key hashes (libmemcached `ketama_server_hash`, `hashkit_md5`)
 *   crc32      libvbucket's vBucket hash, the 15-bit libmemcached form of zlib's CRC-32
 *   oneAtATime Jenkins one-at-a-time, libmemcached's default hash (used by `distribution:modula`)
 *
 * Every function returns an unsigned 32-bit integer as a JS number.
 */

import { hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { KeyRanges } from '../util/key-list.ts';
import { ONE_BLOCK_MAX, simdFirstWords } from './md5-simd.ts';

/** The 16-byte MD5 digest of `data`. */
export function md5(data: Uint8Array): Buffer {
  return hash('md5', data, 'buffer');
}

/**
 * One 32-bit ketama value from an MD5 digest: bytes `4*alignment .. 4*alignment+3`, little-endian
 * (alignment 0..3). `ketamaHash(key, 0)` is also libmemcached's MD5 key hash (`hashkit_md5`).
 */
export function ketamaHash(data: Uint8Array, alignment = 0): number {
  return alignment === 0 ? md5FirstWord(data) : md5(data).readUInt32LE(alignment * 4);
}

// MD5 (RFC 1321) in JS for the per-key hash: keys are short, and going through node:crypto costs a
// native call and a Buffer per key (a fifth of the proxy's CPU on 50-key multi-gets).
const MD5_SHIFT = Int32Array.from([
  7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
  14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15,
  21, 6, 10, 15, 21,
]);
const MD5_K = Int32Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0);
const MD5_INDEX = Int32Array.from({ length: 64 }, (_, i) =>
  i < 16 ? i : i < 32 ? (5 * i + 1) % 16 : i < 48 ? (3 * i + 5) % 16 : (7 * i) % 16,
);
const md5Words = new Int32Array(16);
const md5Tail = new Uint8Array(128);
const md5State = new Int32Array(4);

/**
 * Bytes 0-3 of the MD5 digest of `data` (its bytes `start` to `end`), little-endian: what
 * `ketamaHash(data, 0)` returns.
 */
export function md5FirstWord(data: Uint8Array, start = 0, end = data.length): number {
  const st = md5State;
  st[0] = 0x67452301;
  st[1] = 0xefcdab89 | 0;
  st[2] = 0x98badcfe | 0;
  st[3] = 0x10325476;
  const n = end - start;
  const whole = n - (n % 64);
  for (let off = 0; off < whole; off += 64) md5Block(data, start + off);
  // the tail: remaining bytes, 0x80, zeros, bit length (little-endian) in the last 8 bytes
  const rest = n - whole;
  const tail = md5Tail;
  tail.fill(0);
  for (let i = 0; i < rest; i++) tail[i] = data[start + whole + i];
  tail[rest] = 0x80;
  const tailEnd = rest < 56 ? 64 : 128;
  const bits = n * 8;
  tail[tailEnd - 8] = bits & 0xff;
  tail[tailEnd - 7] = (bits >>> 8) & 0xff;
  tail[tailEnd - 6] = (bits >>> 16) & 0xff;
  tail[tailEnd - 5] = (bits >>> 24) & 0xff;
  tail[tailEnd - 4] = Math.floor(bits / 2 ** 32) & 0xff;
  md5Block(tail, 0);
  if (tailEnd === 128) md5Block(tail, 64);
  return st[0] >>> 0;
}

function md5Block(bytes: Uint8Array, off: number): void {
  const m = md5Words;
  for (let i = 0; i < 16; i++) {
    const j = off + i * 4;
    m[i] = bytes[j] | (bytes[j + 1] << 8) | (bytes[j + 2] << 16) | (bytes[j + 3] << 24);
  }
  const st = md5State;
  let a = st[0];
  let b = st[1];
  let c = st[2];
  let d = st[3];
  for (let i = 0; i < 64; i++) {
    let f: number;
    if (i < 16) f = (b & c) | (~b & d);
    else if (i < 32) f = (d & b) | (~d & c);
    else if (i < 48) f = b ^ c ^ d;
    else f = c ^ (b | ~d);
    f = (f + a + MD5_K[i] + m[MD5_INDEX[i]]) | 0;
    a = d;
    d = c;
    c = b;
    const s = MD5_SHIFT[i];
    b = (b + ((f << s) | (f >>> (32 - s)))) | 0;
  }
  st[0] = (st[0] + a) | 0;
  st[1] = (st[1] + b) | 0;
  st[2] = (st[2] + c) | 0;
  st[3] = (st[3] + d) | 0;
}

// Four keys at once: MD5's 64 steps form one long dependency chain, which leaves most of a CPU's
// execution units idle; four independent chains interleaved in one loop keep them busy. Measured over
// 10,000 13-byte keys on the 2-core bench machine: about 80 ns a key this way, 145 one at a time.
const LANES = 4;
/** The lanes' message blocks: each key's bytes, 0x80, zeros and its bit length; zero between uses. */
const laneBytes = new Uint8Array(64 * LANES);
const laneWords = new Int32Array(laneBytes.buffer);
/** The lanes read words in the platform's byte order, which MD5's little-endian words must match. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

type FirstWords = (keys: KeyRanges, out: Uint32Array) => void;
let simd: FirstWords | null | undefined;

/**
 * @internal md5FirstWords in WebAssembly SIMD, eight keys at a time; null where the runtime has none.
 * Assembled on first use (~1.5 MB of RSS), so a proxy that never sees a multi-get never pays for it.
 */
export function md5FirstWordsSimd(): FirstWords | null {
  if (simd === undefined) simd = simdFirstWords(MD5_K, MD5_SHIFT, MD5_INDEX, md5FirstWord);
  return simd;
}
/**
 * From this many keys on the SIMD module is faster than the JS lanes, although it always hashes eight
 * (bench machine, ns a key: 2 keys 132 against 181, 8 keys 38 against 71, 55 keys 36 against 79).
 */
const SIMD_MIN_KEYS = 2;

/** md5FirstWord of each of `keys`, into `out` (at least as long as there are keys). */
export function md5FirstWords(keys: KeyRanges, out: Uint32Array): void {
  const fast = keys.starts.length >= SIMD_MIN_KEYS ? md5FirstWordsSimd() : null;
  if (fast !== null) fast(keys, out);
  else md5FirstWordsLanes(keys, out);
}

/** @internal md5FirstWords in JS, four keys at a time. */
export function md5FirstWordsLanes(keys: KeyRanges, out: Uint32Array): void {
  const { source, starts, ends } = keys;
  const n = starts.length;
  let i = 0;
  if (LITTLE_ENDIAN) {
    for (; i + LANES <= n; i += LANES) {
      let oneBlock = true;
      for (let l = i; l < i + LANES; l++) if (ends[l] - starts[l] > ONE_BLOCK_MAX) oneBlock = false;
      if (!oneBlock) {
        for (let l = i; l < i + LANES; l++) out[l] = md5FirstWord(source, starts[l], ends[l]);
        continue;
      }
      for (let l = 0; l < LANES; l++) fillLane(source, starts[i + l], ends[i + l], 64 * l);
      md5Lanes(out, i);
      for (let l = 0; l < LANES; l++) clearLane(ends[i + l] - starts[i + l], 64 * l);
    }
  }
  for (; i < n; i++) out[i] = md5FirstWord(source, starts[i], ends[i]);
}

/** A key of at most ONE_BLOCK_MAX bytes (`start` to `end` of `source`) as its one padded MD5 block. */
function fillLane(source: Uint8Array, start: number, end: number, base: number): void {
  const bytes = laneBytes;
  const n = end - start;
  for (let i = 0; i < n; i++) bytes[base + i] = source[start + i];
  bytes[base + n] = 0x80;
  const bits = n * 8;
  bytes[base + 56] = bits & 0xff;
  bytes[base + 57] = bits >>> 8;
}

/** Zeroes what fillLane wrote for a key of `n` bytes (cheaper than clearing the whole block). */
function clearLane(n: number, base: number): void {
  const bytes = laneBytes;
  for (let i = 0; i <= n; i++) bytes[base + i] = 0;
  bytes[base + 56] = 0;
  bytes[base + 57] = 0;
}

/** The first digest word of each of the four one-block messages in laneWords, into out[at..at+3]. */
function md5Lanes(out: Uint32Array, at: number): void {
  const w = laneWords;
  let a0 = 0x67452301;
  let b0 = 0xefcdab89 | 0;
  let c0 = 0x98badcfe | 0;
  let d0 = 0x10325476;
  let a1 = a0;
  let b1 = b0;
  let c1 = c0;
  let d1 = d0;
  let a2 = a0;
  let b2 = b0;
  let c2 = c0;
  let d2 = d0;
  let a3 = a0;
  let b3 = b0;
  let c3 = c0;
  let d3 = d0;
  for (let i = 0; i < 64; i++) {
    let f0: number;
    let f1: number;
    let f2: number;
    let f3: number;
    if (i < 16) {
      f0 = (b0 & c0) | (~b0 & d0);
      f1 = (b1 & c1) | (~b1 & d1);
      f2 = (b2 & c2) | (~b2 & d2);
      f3 = (b3 & c3) | (~b3 & d3);
    } else if (i < 32) {
      f0 = (d0 & b0) | (~d0 & c0);
      f1 = (d1 & b1) | (~d1 & c1);
      f2 = (d2 & b2) | (~d2 & c2);
      f3 = (d3 & b3) | (~d3 & c3);
    } else if (i < 48) {
      f0 = b0 ^ c0 ^ d0;
      f1 = b1 ^ c1 ^ d1;
      f2 = b2 ^ c2 ^ d2;
      f3 = b3 ^ c3 ^ d3;
    } else {
      f0 = c0 ^ (b0 | ~d0);
      f1 = c1 ^ (b1 | ~d1);
      f2 = c2 ^ (b2 | ~d2);
      f3 = c3 ^ (b3 | ~d3);
    }
    const k = MD5_K[i];
    const m = MD5_INDEX[i];
    const s = MD5_SHIFT[i];
    const r = 32 - s;
    f0 = (f0 + a0 + k + w[m]) | 0;
    f1 = (f1 + a1 + k + w[16 + m]) | 0;
    f2 = (f2 + a2 + k + w[32 + m]) | 0;
    f3 = (f3 + a3 + k + w[48 + m]) | 0;
    a0 = d0;
    d0 = c0;
    c0 = b0;
    b0 = (b0 + ((f0 << s) | (f0 >>> r))) | 0;
    a1 = d1;
    d1 = c1;
    c1 = b1;
    b1 = (b1 + ((f1 << s) | (f1 >>> r))) | 0;
    a2 = d2;
    d2 = c2;
    c2 = b2;
    b2 = (b2 + ((f2 << s) | (f2 >>> r))) | 0;
    a3 = d3;
    d3 = c3;
    c3 = b3;
    b3 = (b3 + ((f3 << s) | (f3 >>> r))) | 0;
  }
  out[at] = (a0 + 0x67452301) >>> 0;
  out[at + 1] = (a1 + 0x67452301) >>> 0;
  out[at + 2] = (a2 + 0x67452301) >>> 0;
  out[at + 3] = (a3 + 0x67452301) >>> 0;
}

/**
 * libvbucket's / libmemcached's `hash_crc32`: the standard CRC-32 (zlib's) of the bytes, shifted
 * right 16 and cut to 15 bits, so 0..32767.
 */
export function crc32Hash(data: Uint8Array): number {
  return (crc32(data) >>> 16) & 0x7fff;
}

/**
 * Jenkins one-at-a-time as libmemcached computes it: each byte is read through a (signed) `char`
 * and sign-extended, so bytes >= 0x80 add 0xffffff80..0xffffffff rather than 0x80..0xff.
 */
export function oneAtATime(data: Uint8Array, start = 0, end = data.length): number {
  let value = 0;
  for (let i = start; i < end; i++) {
    value = (value + ((data[i] << 24) >> 24)) >>> 0;
    value = (value + (value << 10)) >>> 0;
    value = (value ^ (value >>> 6)) >>> 0;
  }
  value = (value + (value << 3)) >>> 0;
  value = (value ^ (value >>> 11)) >>> 0;
  value = (value + (value << 15)) >>> 0;
  return value;
}
