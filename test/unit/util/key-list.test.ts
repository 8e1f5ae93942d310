import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KeyList } from '../../../src/util/key-list.ts';

describe('KeyList', () => {
  const line = Buffer.from('get alpha beta gamma\r\n');
  const keys = new KeyList(line, [4, 10, 15], [9, 14, 20]);

  it('makes a view of a key only when asked, of the bytes where the key lies', () => {
    assert.equal(keys.length, 3);
    assert.deepEqual(
      [0, 1, 2].map((i) => keys.key(i).toString()),
      ['alpha', 'beta', 'gamma'],
    );
    assert.equal(keys.key(1).buffer, line.buffer);
  });

  it('picks keys by index into a list over the same buffer', () => {
    const picked = keys.pick([2, 0]);
    assert.equal(picked.source, line);
    assert.deepEqual(
      [0, 1].map((i) => picked.key(i).toString()),
      ['gamma', 'alpha'],
    );
  });
});
