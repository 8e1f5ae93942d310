/**
 * The first MD5 digest word of many short keys at once, in WebAssembly SIMD: each 128-bit lane holds
 * one key's MD5 state, so one pass of the 64 steps hashes four keys, and two such groups interleaved
 * keep the CPU's vector units busy while each step waits for the last (MD5 is one dependency chain).
 * Bench machine, batches of 55 keys: ~37 ns a key (~28 of it hashing, the rest copying the keys in),
 * against ~78 for the four-lane JS loop (routing/hash.ts), where a multi-get of 55 keys spent 12% of
 * its proxy CPU.
 *
 * The module is assembled here, on first use, from the MD5 tables (nothing prebuilt is shipped): one
 * function md5(pairs) and one page of memory. Keys go in as MD5 message blocks, transposed so that
 * word w of the four keys of a group is one vector: group g's bytes are 256 at 256 * g, word w of lane
 * l at 16 * w + 4 * l. The first digest words come out at OUT, four per group.
 */
import type { KeyRanges } from '../util/key-list.ts';

/** Keys of at most this many bytes fit one MD5 block with their padding (0x80 and the bit length). */
export const ONE_BLOCK_MAX = 55;
/** Keys per call into the module (the input area holds this many blocks). */
const KEYS_PER_CALL = 512;
const GROUP_BYTES = 256;
/** Where the digest words are written: after the input area. */
const OUT = (KEYS_PER_CALL / 4) * GROUP_BYTES;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a small non-negative i32 constant (shift counts, offsets). */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

// opcodes (WebAssembly core and the SIMD proposal, both in every V8 Node 20 ships)
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const I32_CONST = 0x41;
const I32_GE_U = 0x4f;
const I32_ADD = 0x6a;
const I32_SHL = 0x74;
const I32_SHR_U = 0x76;
const BLOCK = 0x02;
const LOOP = 0x03;
const BR = 0x0c;
const BR_IF = 0x0d;
const END = 0x0b;
const VOID = 0x40;
const I32 = 0x7f;
const V128 = 0x7b;
const SIMD = 0xfd;
const V128_LOAD = 0x00;
const V128_STORE = 0x0b;
const V128_CONST = 0x0c;
const V128_NOT = 0x4d;
const V128_OR = 0x50;
const V128_XOR = 0x51;
const V128_BITSELECT = 0x52;
const I32X4_SHL = 0xab;
const I32X4_SHR_U = 0xad;
const I32X4_ADD = 0xae;
/** Alignment hint of 16-byte loads and stores (log2). */
const ALIGN_16 = 4;

const INIT = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

/** The module's bytes, for MD5 with the given round constants, shifts and message word order. */
function assemble(k: Int32Array, shift: Int32Array, index: Int32Array): Uint8Array {
  const code: number[] = [];
  const op = (...bytes: number[]): void => {
    for (const b of bytes) code.push(b);
  };
  const simd = (opcode: number): void => {
    op(SIMD, ...uleb(opcode));
  };
  const get = (local: number): void => {
    op(LOCAL_GET, ...uleb(local));
  };
  const set = (local: number): void => {
    op(LOCAL_SET, ...uleb(local));
  };
  const splat = (value: number): void => {
    simd(V128_CONST);
    for (let lane = 0; lane < 4; lane++)
      op(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff);
  };
  // locals: 0 = pairs (the parameter); 1 = p (this pair's input offset), 2 = end; v128: 3..6 and 7..10
  // the two groups' a, b, c, d (which local holds which rotates with each step), 11 and 12 their f
  const P = 1;
  const LIMIT = 2;
  get(0);
  op(I32_CONST, ...sleb(9), I32_SHL); // end = pairs * 2 * GROUP_BYTES
  set(LIMIT);
  op(BLOCK, VOID, LOOP, VOID);
  get(P);
  get(LIMIT);
  op(I32_GE_U, BR_IF, 1);
  const regs = [
    [3, 4, 5, 6],
    [7, 8, 9, 10],
  ];
  for (const group of regs) {
    group.forEach((local, i) => {
      splat(INIT[i]);
      set(local);
    });
  }
  for (let i = 0; i < 64; i++) {
    for (let g = 0; g < 2; g++) {
      const [a, b, c, d] = regs[g];
      const f = 11 + g;
      if (i < 16) {
        // (b & c) | (~b & d)
        get(c);
        get(d);
        get(b);
        simd(V128_BITSELECT);
      } else if (i < 32) {
        // (d & b) | (~d & c)
        get(b);
        get(c);
        get(d);
        simd(V128_BITSELECT);
      } else if (i < 48) {
        get(b);
        get(c);
        simd(V128_XOR);
        get(d);
        simd(V128_XOR);
      } else {
        // c ^ (b | ~d)
        get(c);
        get(b);
        get(d);
        simd(V128_NOT);
        simd(V128_OR);
        simd(V128_XOR);
      }
      get(a);
      simd(I32X4_ADD);
      splat(k[i]);
      simd(I32X4_ADD);
      get(P);
      simd(V128_LOAD);
      op(ALIGN_16, ...uleb(g * GROUP_BYTES + index[i] * 16));
      simd(I32X4_ADD);
      set(f);
      // b + rotl(f, s) becomes the new b, in the local that held a
      get(b);
      get(f);
      op(I32_CONST, ...sleb(shift[i]));
      simd(I32X4_SHL);
      get(f);
      op(I32_CONST, ...sleb(32 - shift[i]));
      simd(I32X4_SHR_U);
      simd(V128_OR);
      simd(I32X4_ADD);
      set(a);
      regs[g] = [d, a, b, c];
    }
  }
  for (let g = 0; g < 2; g++) {
    // the digest's first word: a + its initial value, four lanes at OUT + 16 * group
    get(P);
    op(I32_CONST, ...sleb(4), I32_SHR_U);
    get(regs[g][0]);
    splat(INIT[0]);
    simd(I32X4_ADD);
    simd(V128_STORE);
    op(ALIGN_16, ...uleb(OUT + g * 16));
  }
  get(P);
  op(I32_CONST, ...sleb(2 * GROUP_BYTES), I32_ADD);
  set(P);
  op(BR, 0, END, END, END);

  const body = [2, 2, I32, 10, V128, ...code];
  const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];
  const name = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s, 'latin1')];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ...section(1, [1, 0x60, 1, I32, 0]), // type: (i32) -> ()
    ...section(3, [1, 0]), // one function of that type
    ...section(5, [1, 0, 1]), // one memory of one page
    ...section(7, [2, ...name('md5'), 0, 0, ...name('mem'), 2, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
}

/** What is used of the WebAssembly global (which the project's TypeScript libraries do not declare). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
}

/**
 * A function that writes the first MD5 digest word of each of `keys` into `out`, or null where
 * WebAssembly SIMD is not available (the caller hashes in JS then). Keys longer than one block are
 * handed to `long`.
 */
export function simdFirstWords(
  k: Int32Array,
  shift: Int32Array,
  index: Int32Array,
  long: (key: Uint8Array) => number,
): ((keys: KeyRanges, out: Uint32Array) => void) | null {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (wasm === undefined || new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) return null;
  let md5: (pairs: number) => void;
  let memory: { readonly buffer: ArrayBuffer };
  try {
    const bytes = assemble(k, shift, index);
    if (!wasm.validate(bytes)) return null;
    const instance = new wasm.Instance(new wasm.Module(bytes), {});
    md5 = instance.exports['md5'] as (pairs: number) => void;
    memory = instance.exports['mem'] as { readonly buffer: ArrayBuffer };
  } catch {
    return null;
  }
  // word w of lane l of group g, as the vectors read it: the module's memory is little-endian, and so
  // must the platform be for these words to land byte for byte
  const input = new Uint32Array(memory.buffer, 0, OUT / 4);
  const digests = new Uint32Array(memory.buffer, OUT, KEYS_PER_CALL);
  return (keys, out) => {
    const { source, starts, ends } = keys;
    const n = starts.length;
    for (let first = 0; first < n; first += KEYS_PER_CALL) {
      const count = Math.min(KEYS_PER_CALL, n - first);
      // whole pairs of groups: the lanes past the last key hash empty blocks, read by no one
      const pairs = (count + 7) >> 3;
      input.fill(0, 0, (pairs * 2 * GROUP_BYTES) / 4);
      for (let key = 0; key < count; key++) {
        const start = starts[first + key];
        const length = ends[first + key] - start;
        if (length > ONE_BLOCK_MAX) continue;
        // the key's block: its bytes, four to a word, then 0x80, then its length in bits in word 14
        const lane = (key >> 2) * (GROUP_BYTES / 4) + (key & 3);
        const whole = length >> 2;
        let at = start;
        for (let w = 0; w < whole; w++, at += 4) {
          input[lane + w * 4] =
            source[at] | (source[at + 1] << 8) | (source[at + 2] << 16) | (source[at + 3] << 24);
        }
        const rest = length & 3;
        let last = 0x80 << (rest * 8);
        for (let b = 0; b < rest; b++) last |= source[at + b] << (b * 8);
        input[lane + whole * 4] = last;
        input[lane + 14 * 4] = length * 8;
      }
      md5(pairs);
      for (let key = 0; key < count; key++) {
        const start = starts[first + key];
        const end = ends[first + key];
        out[first + key] = end - start > ONE_BLOCK_MAX ? long(source.subarray(start, end)) : digests[key];
      }
    }
  };
}
