/**
 * Every codec test feeds its input three ways: whole, one byte at a time, and cut at random points.
 * A codec that is truly incremental must produce the same results for all of them.
 */
import { SeededRandom } from './random.ts';

export interface Chunking {
  readonly name: string;
  readonly chunks: Buffer[];
}

export function byteByByte(input: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i++) out.push(input.subarray(i, i + 1));
  return out;
}

/** Cuts `input` at `cuts` random points chosen by `seed` (empty chunks are never produced). */
export function randomSplits(input: Buffer, seed: number, cuts = 1 + (seed % 7)): Buffer[] {
  const rnd = new SeededRandom(seed);
  const points = new Set<number>();
  for (let i = 0; i < cuts && input.length > 1; i++) points.add(rnd.int(1, input.length - 1));
  const sorted = [...points].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of sorted) {
    out.push(input.subarray(prev, p));
    prev = p;
  }
  out.push(input.subarray(prev));
  return out.filter((c) => c.length > 0);
}

/** The standard set of chunkings: whole, byte by byte, and `seeds` random splits. */
export function chunkings(input: Buffer, seeds = 16): Chunking[] {
  const list: Chunking[] = [
    { name: 'whole', chunks: [input] },
    { name: 'byte by byte', chunks: byteByByte(input) },
  ];
  for (let s = 1; s <= seeds; s++)
    list.push({ name: `random splits #${s}`, chunks: randomSplits(input, s * 7919) });
  return list;
}
