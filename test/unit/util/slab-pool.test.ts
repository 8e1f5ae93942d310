import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SlabPool } from '../../../src/util/slab-pool.ts';

describe('SlabPool', () => {
  it('lends slabs of its size and lends a given-back slab again, found by any view of it', () => {
    const pool = new SlabPool(1024, 4);
    const slab = pool.lend();
    assert.equal(slab.length, 1024);
    pool.giveBack([slab.subarray(100, 200)]);
    assert.equal(pool.freeCount, 1);
    const again = pool.lend();
    assert.equal(again.buffer, slab.buffer);
    assert.equal(pool.reused, 1);
    assert.equal(pool.freeCount, 0);
  });

  it('never lends one slab to two holders: a second give-back of the same slab is ignored', () => {
    const pool = new SlabPool(1024, 4);
    const slab = pool.lend();
    pool.giveBack([slab.subarray(0, 10), slab.subarray(10, 20)]);
    pool.giveBack([slab]);
    assert.equal(pool.freeCount, 1);
    const first = pool.lend();
    const second = pool.lend();
    assert.equal(first.buffer, slab.buffer);
    assert.notEqual(second.buffer, slab.buffer);
  });

  it('ignores views of memory it did not lend', () => {
    const pool = new SlabPool(1024, 4);
    pool.giveBack([Buffer.alloc(1024), Buffer.allocUnsafe(10), Buffer.allocUnsafeSlow(1024)]);
    assert.equal(pool.freeCount, 0);
  });

  it('keeps at most maxFree slabs for reuse', () => {
    const pool = new SlabPool(256, 2);
    const slabs = [pool.lend(), pool.lend(), pool.lend()];
    pool.giveBack(slabs);
    assert.equal(pool.freeCount, 2);
    const lent = new Set([pool.lend().buffer, pool.lend().buffer, pool.lend().buffer]);
    assert.equal(lent.size, 3, 'three distinct slabs, one of them new');
  });
});
