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

/** Bytes 0-3 of the MD5 digest of `data`, little-endian: what `ketamaHash(data, 0)` returns. */
export function md5FirstWord(data: Uint8Array): number {
  const st = md5State;
  st[0] = 0x67452301;
  st[1] = 0xefcdab89 | 0;
  st[2] = 0x98badcfe | 0;
  st[3] = 0x10325476;
  const n = data.length;
  const whole = n - (n % 64);
  for (let off = 0; off < whole; off += 64) md5Block(data, off);
  // the tail: remaining bytes, 0x80, zeros, bit length (little-endian) in the last 8 bytes
  const rest = n - whole;
  const tail = md5Tail;
  tail.fill(0);
  for (let i = 0; i < rest; i++) tail[i] = data[whole + i];
  tail[rest] = 0x80;
  const end = rest < 56 ? 64 : 128;
  const bits = n * 8;
  tail[end - 8] = bits & 0xff;
  tail[end - 7] = (bits >>> 8) & 0xff;
  tail[end - 6] = (bits >>> 16) & 0xff;
  tail[end - 5] = (bits >>> 24) & 0xff;
  tail[end - 4] = Math.floor(bits / 2 ** 32) & 0xff;
  md5Block(tail, 0);
  if (end === 128) md5Block(tail, 64);
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
export function oneAtATime(data: Uint8Array): number {
  let value = 0;
  for (let i = 0; i < data.length; i++) {
    value = (value + ((data[i] << 24) >> 24)) >>> 0;
    value = (value + (value << 10)) >>> 0;
    value = (value ^ (value >>> 6)) >>> 0;
  }
  value = (value + (value << 3)) >>> 0;
  value = (value ^ (value >>> 11)) >>> 0;
  value = (value + (value << 15)) >>> 0;
  return value;
}
