import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReadBuffer } from '../../../src/util/read-buffer.ts';
import { SlabPool } from '../../../src/util/slab-pool.ts';

/** What node does with an onread buffer: asks for a region, reads `n` bytes into it, hands it back. */
function read(reads: ReadBuffer, n: number, fill: number): Buffer {
  const region = reads.next();
  const size = Math.min(n, region.length);
  region.fill(fill, 0, size);
  return reads.take(size, region)!;
}

/** Makes each read in turn (`n` bytes through `reads`), then checks every chunk handed out is as read. */
function assertReadsIntact(steps: ReadonlyArray<readonly [ReadBuffer, number]>): void {
  const kept = steps.map(([reads, n], i) => {
    const fill = (i * 37 + 1) & 0xff;
    const chunk = read(reads, n, fill);
    return { chunk, fill, size: chunk.length };
  });
  for (const { chunk, fill, size } of kept) {
    assert.equal(chunk.length, size);
    assert.ok(chunk.every((b) => b === fill));
  }
}

describe('ReadBuffer', () => {
  it('never lets a later read change the bytes of an earlier one, whatever the read sizes', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 60 }), (sizes) => {
        const reads = new ReadBuffer();
        assertReadsIntact(sizes.map((n) => [reads, n] as const));
      }),
      { numRuns: 200 },
    );
  });

  it('reads small pieces into the same buffer again and again, copying what it hands out', () => {
    const reads = new ReadBuffer();
    const region = reads.next();
    const chunk = reads.take(30, region)!;
    assert.notEqual(chunk.buffer, region.buffer);
    assert.equal(reads.next(), region);
  });

  it('gives a large read its buffer and takes a new one, larger after a read that filled it', () => {
    const reads = new ReadBuffer(16 * 1024);
    const first = reads.next();
    assert.equal(first.length, 16 * 1024);
    const whole = reads.take(first.length, first)!;
    assert.equal(whole.buffer, first.buffer);
    const second = reads.next();
    assert.notEqual(second, first);
    assert.equal(second.length, 32 * 1024);
    reads.take(second.length, second);
    const third = reads.next();
    assert.equal(third.length, 64 * 1024);
    reads.take(third.length, third);
    assert.equal(reads.next().length, 64 * 1024, 'never beyond the 64 KB node reads with');
  });
});

/** A client socket's reads (next() returns the same region until the next read, as node asks again). */
function clientReads(): ReadBuffer {
  return new ReadBuffer(16 * 1024, null, true);
}

describe('ReadBuffer, client sockets sharing one buffer', () => {
  it('reads small pieces of many sockets into one buffer and copies each out', () => {
    const a = clientReads();
    const b = clientReads();
    assert.equal(a.next().buffer, b.next().buffer, 'one buffer for both');
    const fromA = read(a, 100, 1);
    const fromB = read(b, 200, 2);
    assert.notEqual(fromA.buffer, a.next().buffer);
    assert.ok(fromA.every((x) => x === 1) && fromA.length === 100);
    assert.ok(fromB.every((x) => x === 2) && fromB.length === 200);
  });

  it('copies a large read out too, then reads that socket into a buffer of its own until a small read', () => {
    const a = clientReads();
    const b = clientReads();
    const shared = a.next();
    const big = read(a, 40_000, 7);
    assert.notEqual(big.buffer, shared.buffer, 'the shared buffer is never given out');
    assert.notEqual(a.next().buffer, shared.buffer, 'a reads into its own buffer now');
    assert.ok(a.next().length >= 40_000, 'sized to the read that moved it');
    assert.equal(b.next().buffer, shared.buffer, 'b still shares');
    const own = a.next();
    const whole = read(a, own.length, 8);
    assert.equal(whole.buffer, own.buffer, 'a large read of its own buffer is given as it is');
    read(a, 30, 9);
    assert.equal(a.next().buffer, shared.buffer, 'a small read brings it back');
  });

  it("never lets one socket's read change bytes another socket's reader was given", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(5), fc.integer({ min: 1, max: 70_000 })), { minLength: 1, maxLength: 80 }),
        (steps) => {
          const sockets = Array.from({ length: 6 }, clientReads);
          assertReadsIntact(steps.map(([socket, n]) => [sockets[socket], n] as const));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('ReadBuffer, an announced large value', () => {
  const SLAB = 64 * 1024;

  /** One read as node makes it: asks for a region, reads up to `n` bytes of `source` into it. */
  function readFrom(reads: ReadBuffer, source: Buffer, at: number, n: number) {
    const region = reads.next();
    const size = Math.min(n, region.length, source.length - at);
    source.copy(region, 0, at, at + size);
    return { region, size, chunk: reads.take(size, region) };
  }

  it('reads it into slabs of the pool, handed on a slab at a time, then reads as before', () => {
    const pool = new SlabPool(SLAB, 8);
    const reads = new ReadBuffer(SLAB, pool);
    const value = Buffer.alloc(150_000);
    for (let i = 0; i < value.length; i++) value[i] = (i * 7) & 0xff;
    const got: Buffer[] = [];
    for (let at = 0; at < value.length;) {
      if (at === 0) reads.expectValue(value.length);
      const { region, size, chunk } = readFrom(reads, value, at, 10_000);
      assert.equal(region.buffer.byteLength, SLAB, 'each read lands in a slab');
      at += size;
      if (chunk !== null) got.push(chunk);
    }
    assert.deepEqual(
      got.map((c) => c.length),
      [SLAB, SLAB, 150_000 - 2 * SLAB],
    );
    assert.ok(Buffer.concat(got).equals(value));
    assert.equal(new Set(got.map((c) => c.buffer)).size, 3, 'one slab each');
    const after = reads.next();
    pool.giveBack([after]);
    assert.equal(pool.freeCount, 0, 'the next read is not in a slab');
  });

  it('never reads past the value into a slab, and never mixes two values or other bytes in one', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            before: fc.integer({ min: 1, max: 70_000 }),
            value: fc.integer({ min: 0, max: 200_000 }),
            readSize: fc.integer({ min: 1, max: 70_000 }),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        (steps) => {
          const pool = new SlabPool(SLAB, 8);
          const reads = new ReadBuffer(SLAB, pool);
          const kept: { chunk: Buffer; copy: Buffer; owner: number }[] = [];
          let fill = 0;
          const keep = (chunk: Buffer | null, owner: number) => {
            if (chunk !== null) kept.push({ chunk, copy: Buffer.from(chunk), owner });
          };
          steps.forEach((step, i) => {
            const plain = Buffer.alloc(step.before, ++fill & 0xff);
            keep(readFrom(reads, plain, 0, plain.length).chunk, -1);
            if (step.value === 0) return;
            const value = Buffer.alloc(step.value, ++fill & 0xff);
            reads.expectValue(step.value);
            for (let at = 0; at < value.length;) {
              const { region, size, chunk } = readFrom(reads, value, at, step.readSize);
              assert.ok(region.length <= value.length - at, 'a read never reaches past the value');
              at += size;
              keep(chunk, i);
            }
          });
          // every chunk still holds what was read into it, and a slab holds one value's bytes only
          const ownerOf = new Map<ArrayBufferLike, number>();
          for (const { chunk, copy, owner } of kept) {
            assert.ok(chunk.equals(copy));
            if (owner < 0) continue;
            assert.equal(ownerOf.get(chunk.buffer) ?? owner, owner);
            ownerOf.set(chunk.buffer, owner);
          }
          for (const { chunk, owner } of kept) if (owner < 0) assert.equal(ownerOf.has(chunk.buffer), false);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("lends the value the slab of the read its frame began with, and no other read's", () => {
    const pool = new SlabPool(SLAB, 8);
    const reads = new ReadBuffer(SLAB, pool);
    const bulk = Buffer.alloc(40_000, 1);
    const first = readFrom(reads, bulk, 0, bulk.length).chunk!;
    assert.equal(first.buffer.byteLength, SLAB, 'a read of most of the buffer is handed on in it');
    reads.expectValue(100_000, first);
    pool.giveBack([first]);
    assert.equal(pool.freeCount, 1, 'the slab of the first read came back');

    const others = new SlabPool(SLAB, 8);
    const other = new ReadBuffer(SLAB, others);
    const given = readFrom(other, bulk, 0, bulk.length).chunk!;
    const copied = readFrom(other, bulk, 0, 100).chunk!;
    other.expectValue(100_000, copied);
    others.giveBack([given, copied]);
    assert.equal(others.freeCount, 0, 'a copied read is not the frame start: nothing is lent');
    const another = new ReadBuffer(SLAB, others);
    const third = readFrom(another, bulk, 0, bulk.length).chunk!;
    another.expectValue(100_000, null);
    others.giveBack([third]);
    assert.equal(others.freeCount, 0, 'a read holding more than the frame is not lent');
  });

  it('reads as usual when it has no pool', () => {
    const reads = new ReadBuffer(SLAB);
    const region = reads.next();
    reads.take(100, region);
    reads.expectValue(500_000);
    assert.equal(reads.next(), region);
  });
});
