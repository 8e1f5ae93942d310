import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { distinctKeys as distinctOfList } from '../../../src/util/distinct-keys.ts';
import { keyList } from '../../helpers/keys.ts';

const distinctKeys = (keys: readonly Buffer[]): Int32Array | null => distinctOfList(keyList(keys));

/** The same answer from latin1 strings and a Map: distinct keys numbered in order of first appearance. */
function reference(keys: readonly Buffer[]): number[] | null {
  const seen = new Map<string, number>();
  const out = keys.map((k) => {
    const text = k.toString('latin1');
    let index = seen.get(text);
    if (index === undefined) seen.set(text, (index = seen.size));
    return index;
  });
  return seen.size === keys.length ? null : out;
}

describe('distinctKeys (multi-get de-duplication)', () => {
  it('returns null when every key is distinct, else the distinct index of each key', () => {
    const b = (s: string) => Buffer.from(s);
    assert.equal(distinctKeys([b('a'), b('b'), b('ab')]), null);
    assert.deepEqual([...distinctKeys([b('a'), b('b'), b('a'), b('c'), b('b')])!], [0, 1, 0, 2, 1]);
    assert.deepEqual([...distinctKeys([b('k'), b('k')])!], [0, 0]);
  });

  it('agrees with a Map of latin1 strings on any keys, small alphabets forcing duplicates and collisions', () => {
    const key = fc.uint8Array({ minLength: 1, maxLength: 6 }).map((a) => Buffer.from(a.map((x) => x % 3)));
    fc.assert(
      fc.property(fc.array(key, { maxLength: 700 }), (keys) => {
        const got = distinctKeys(keys);
        assert.deepEqual(got === null ? null : [...got], reference(keys));
      }),
      { numRuns: 300 },
    );
  });

  it('is not confused by a large call before a small one (the reused table is cleared)', () => {
    const many = Array.from({ length: 5000 }, (_, i) => Buffer.from(`key${i}`));
    assert.equal(distinctKeys(many), null);
    assert.deepEqual([...distinctKeys([Buffer.from('key1'), Buffer.from('key1')])!], [0, 0]);
    assert.equal(distinctKeys([Buffer.from('key1'), Buffer.from('key2')]), null);
  });
});
