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
  return md5(data).readUInt32LE(alignment * 4);
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
