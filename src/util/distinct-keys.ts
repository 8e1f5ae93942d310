/**
 * Duplicate detection for the keys of one multi-get, on the hot path of every multi-key request: no key
 * strings (a latin1 string and a Map entry per key cost more than the hash, the route and the wire
 * bytes together), just an FNV-1a hash of the bytes into a reused open-addressing table.
 */
import type { KeyRanges } from './key-list.ts';

/** Slots hold a key's position + 1 (0 = empty). Grown as needed, never shrunk; cleared per call. */
let table = new Int32Array(256);
/** Scratch for the answer; copied out only when there are duplicates. */
let distinctOf = new Int32Array(128);

/** True when `n` bytes of `a` from `aStart` equal those of `b` from `bStart` (keys are short: a JS loop). */
export function sameBytes(a: Uint8Array, aStart: number, b: Uint8Array, bStart: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[aStart + i] !== b[bStart + i]) return false;
  return true;
}

/** FNV-1a of the bytes `start`..`end` of `source`, as an int32. */
export function fnv1a(source: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5 | 0;
  for (let i = start; i < end; i++) h = Math.imul(h ^ source[i], 0x01000193);
  return h;
}

/**
 * For each key, the index of its distinct key, distinct keys numbered in order of first appearance;
 * null when all keys are distinct (the usual case, and then no array is kept).
 */
export function distinctKeys(keys: KeyRanges): Int32Array | null {
  const { source, starts, ends } = keys;
  const n = starts.length;
  // a table at least twice the key count, of which only the part this call uses is cleared
  let size = 256;
  while (size < 2 * n) size *= 2;
  if (table.length < size) table = new Int32Array(size);
  else table.fill(0, 0, size);
  if (distinctOf.length < n) distinctOf = new Int32Array(size);
  const mask = size - 1;
  let distinct = 0;
  for (let i = 0; i < n; i++) {
    const start = starts[i];
    const length = ends[i] - start;
    let slot = fnv1a(source, start, ends[i]) & mask;
    for (;;) {
      const held = table[slot];
      if (held === 0) {
        table[slot] = i + 1;
        distinctOf[i] = distinct++;
        break;
      }
      const other = held - 1;
      if (ends[other] - starts[other] === length && sameBytes(source, starts[other], source, start, length)) {
        distinctOf[i] = distinctOf[other];
        break;
      }
      slot = (slot + 1) & mask;
    }
  }
  return distinct === n ? null : distinctOf.slice(0, n);
}
