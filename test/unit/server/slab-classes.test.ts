import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SlabClasses } from '../../../src/server/slab-classes.ts';

// `memcached -vv` (1.6.18, defaults) prints these chunk sizes for classes 1..39.
const MEMCACHED_1_6_18 = [
  96, 120, 152, 192, 240, 304, 384, 480, 600, 752, 944, 1184, 1480, 1856, 2320, 2904, 3632, 4544, 5680, 7104,
  8880, 11104, 13880, 17352, 21696, 27120, 33904, 42384, 52984, 66232, 82792, 103496, 129376, 161720, 202152,
  252696, 315872, 394840, 524288,
];

describe('SlabClasses', () => {
  it('builds the same class table as memcached', () => {
    assert.deepEqual(new SlabClasses().sizes.slice(1), MEMCACHED_1_6_18);
  });
  it('puts an item in the smallest class that fits, large items in the last', () => {
    const s = new SlabClasses();
    assert.equal(s.classOf(67), 1);
    assert.equal(s.classOf(96), 1);
    assert.equal(s.classOf(97), 2);
    assert.equal(s.classOf(600_000), 39);
  });
});
