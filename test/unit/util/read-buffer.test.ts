import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReadBuffer } from '../../../src/util/read-buffer.ts';

/** What node does with an onread buffer: asks for a region, reads `n` bytes into it, hands it back. */
function read(reads: ReadBuffer, n: number, fill: number): Buffer {
  const region = reads.next();
  const size = Math.min(n, region.length);
  region.fill(fill, 0, size);
  return reads.take(size, region);
}

describe('ReadBuffer', () => {
  it('never lets a later read change the bytes of an earlier one, whatever the read sizes', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 60 }), (sizes) => {
        const reads = new ReadBuffer();
        const kept: { chunk: Buffer; fill: number; size: number }[] = [];
        sizes.forEach((n, i) => {
          const fill = (i * 37 + 1) & 0xff;
          const chunk = read(reads, n, fill);
          kept.push({ chunk, fill, size: chunk.length });
        });
        for (const { chunk, fill, size } of kept) {
          assert.equal(chunk.length, size);
          assert.ok(chunk.every((b) => b === fill));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('reads small pieces into the same buffer again and again, copying what it hands out', () => {
    const reads = new ReadBuffer();
    const region = reads.next();
    const chunk = reads.take(30, region);
    assert.notEqual(chunk.buffer, region.buffer);
    assert.equal(reads.next(), region);
  });

  it('gives a large read its buffer and takes a new one, larger after a read that filled it', () => {
    const reads = new ReadBuffer(16 * 1024);
    const first = reads.next();
    assert.equal(first.length, 16 * 1024);
    const whole = reads.take(first.length, first);
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
