/**
 * Downstream text request encoding: the exact bytes of every command, small values inlined into one
 * Buffer and large ones passed through uncopied, and rejection of numbers memcached would refuse.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  encodeArith,
  encodeCas,
  encodeDelete,
  encodeFlushAll,
  encodeGat,
  encodeGet,
  encodeMeta,
  encodeMetaNoop,
  encodeMetaSet,
  encodeStats,
  encodeStorage,
  encodeTouch,
  encodeVerbosity,
  encodeVersion,
  INLINE_VALUE_MAX,
} from '../../../../src/protocol/ascii/request-encoder.ts';

const s = (b: Buffer | Buffer[]): string => (Array.isArray(b) ? Buffer.concat(b) : b).toString('latin1');
const k = (key: string): Buffer => Buffer.from(key, 'latin1');

describe('retrieval', () => {
  it('get/gets with one and many keys', () => {
    assert.equal(s(encodeGet('get', [k('a')])), 'get a\r\n');
    assert.equal(s(encodeGet('gets', [k('a'), k('bb'), k('a')])), 'gets a bb a\r\n');
  });

  it('gat/gats put the exptime first, negative allowed', () => {
    assert.equal(s(encodeGat('gat', 0, [k('a')])), 'gat 0 a\r\n');
    assert.equal(s(encodeGat('gats', -1, [k('a'), k('b')])), 'gats -1 a b\r\n');
    assert.equal(s(encodeGat('gat', 2592000, [k('x')])), 'gat 2592000 x\r\n');
  });

  it('refuses an empty key list', () => {
    assert.throws(() => encodeGet('get', []), RangeError);
    assert.throws(() => encodeGat('gat', 0, []), RangeError);
  });

  it('copies key bytes verbatim, whatever they are', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 250 }), { minLength: 1, maxLength: 20 }),
        (raw) => {
          const keys = raw.map((r) => Buffer.from(r));
          const expected = Buffer.concat([
            Buffer.from('get'),
            ...keys.flatMap((key) => [Buffer.from(' '), key]),
            Buffer.from('\r\n'),
          ]);
          assert.deepEqual(encodeGet('get', keys), expected);
        },
      ),
    );
  });
});

describe('storage', () => {
  it('set/add/replace/append/prepend as one Buffer when the value is small', () => {
    for (const cmd of ['set', 'add', 'replace', 'append', 'prepend'] as const) {
      const out = encodeStorage(cmd, k('a'), 5, 0, k('abc'));
      assert.equal(out.length, 1);
      assert.equal(s(out), `${cmd} a 5 0 3\r\nabc\r\n`);
    }
  });

  it('noreply, max flags, negative exptime, zero-length and "\\r\\n"-laden values', () => {
    assert.equal(
      s(encodeStorage('set', k('z'), 4294967295, -1, k(''), true)),
      'set z 4294967295 -1 0 noreply\r\n\r\n',
    );
    assert.equal(s(encodeStorage('set', k('c'), 0, 100, k('a\r\nb\r\n'))), 'set c 0 100 6\r\na\r\nb\r\n\r\n');
  });

  it('cas carries the unique id, up to 2^64-1', () => {
    assert.equal(s(encodeCas(k('a'), 0, 0, k('x'), 999)), 'cas a 0 0 1 999\r\nx\r\n');
    assert.equal(
      s(encodeCas(k('a'), 1, 2, k('x'), 18446744073709551615n, true)),
      'cas a 1 2 1 18446744073709551615 noreply\r\nx\r\n',
    );
  });

  it('a large value is passed through, not copied', () => {
    const data = Buffer.alloc(1048576, 0x61);
    const out = encodeStorage('set', k('big'), 7, 0, data);
    assert.equal(out.length, 3);
    assert.equal(s(out[0]), 'set big 7 0 1048576\r\n');
    assert.equal(out[1], data);
    assert.equal(s(out[2]), '\r\n');
    const cas = encodeCas(k('big'), 7, 0, data, 1n);
    assert.equal(cas[1], data);
  });

  it('inlines exactly up to INLINE_VALUE_MAX bytes', () => {
    assert.equal(encodeStorage('set', k('a'), 0, 0, Buffer.alloc(INLINE_VALUE_MAX)).length, 1);
    assert.equal(encodeStorage('set', k('a'), 0, 0, Buffer.alloc(INLINE_VALUE_MAX + 1)).length, 3);
  });

  it('rejects flags outside uint32 and non-integer numbers', () => {
    assert.throws(() => encodeStorage('set', k('a'), 4294967296, 0, k('x')), RangeError);
    assert.throws(() => encodeStorage('set', k('a'), -1, 0, k('x')), RangeError);
    assert.throws(() => encodeStorage('set', k('a'), 0, 1.5, k('x')), RangeError);
    assert.throws(() => encodeCas(k('a'), 0, 0, k('x'), -1n), RangeError);
  });
});

describe('other classic commands', () => {
  it('incr/decr with deltas up to 2^64-1', () => {
    assert.equal(s(encodeArith('incr', k('n'), 1)), 'incr n 1\r\n');
    assert.equal(
      s(encodeArith('decr', k('n'), 18446744073709551610n, true)),
      'decr n 18446744073709551610 noreply\r\n',
    );
    assert.throws(() => encodeArith('incr', k('n'), -1), RangeError);
    assert.throws(() => encodeArith('incr', k('n'), -1n), RangeError);
  });

  it('delete, touch', () => {
    assert.equal(s(encodeDelete(k('a'))), 'delete a\r\n');
    assert.equal(s(encodeDelete(k('a'), true)), 'delete a noreply\r\n');
    assert.equal(s(encodeTouch(k('a'), 100)), 'touch a 100\r\n');
    assert.equal(s(encodeTouch(k('a'), -1, true)), 'touch a -1 noreply\r\n');
  });

  it('flush_all with and without delay and noreply', () => {
    assert.equal(s(encodeFlushAll()), 'flush_all\r\n');
    assert.equal(s(encodeFlushAll(0)), 'flush_all 0\r\n');
    assert.equal(s(encodeFlushAll(10, true)), 'flush_all 10 noreply\r\n');
    assert.equal(s(encodeFlushAll(undefined, true)), 'flush_all noreply\r\n');
  });

  it('stats, version, verbosity', () => {
    assert.equal(s(encodeStats()), 'stats\r\n');
    assert.equal(s(encodeStats('')), 'stats\r\n');
    assert.equal(s(encodeStats('settings')), 'stats settings\r\n');
    assert.equal(s(encodeStats(Buffer.from('cachedump 1 10'))), 'stats cachedump 1 10\r\n');
    assert.equal(s(encodeVersion()), 'version\r\n');
    assert.equal(s(encodeVerbosity(1)), 'verbosity 1\r\n');
    assert.equal(s(encodeVerbosity(0, true)), 'verbosity 0 noreply\r\n');
  });
});

describe('meta commands', () => {
  it('mg/md/ma/me with flag tokens as strings or Buffers', () => {
    assert.equal(
      s(encodeMeta('mg', k('k'), ['v', 'c', 'f', 't', 's', 'k', 'O123'])),
      'mg k v c f t s k O123\r\n',
    );
    assert.equal(s(encodeMeta('mg', k('k'))), 'mg k\r\n');
    assert.equal(s(encodeMeta('md', k('k'), ['q'])), 'md k q\r\n');
    assert.equal(
      s(encodeMeta('ma', k('cnt'), [Buffer.from('MD'), Buffer.from('D10'), 'v', 'N0', 'c'])),
      'ma cnt MD D10 v N0 c\r\n',
    );
    assert.equal(s(encodeMeta('me', k('cnt'))), 'me cnt\r\n');
    assert.equal(s(encodeMeta('mg', k('Zm9v'), ['b', 'v', 'k'])), 'mg Zm9v b v k\r\n');
  });

  it('mn', () => {
    assert.equal(s(encodeMetaNoop()), 'mn\r\n');
  });

  it('ms with data, small inlined and large passed through', () => {
    assert.equal(s(encodeMetaSet(k('k'), ['c', 'T0', 'F7'], k('hi'))), 'ms k 2 c T0 F7\r\nhi\r\n');
    assert.equal(s(encodeMetaSet(k('e'), [], k(''))), 'ms e 0\r\n\r\n');
    const data = Buffer.alloc(INLINE_VALUE_MAX + 1, 0x62);
    const out = encodeMetaSet(k('big'), ['I'], data);
    assert.equal(out.length, 3);
    assert.equal(s(out[0]), `ms big ${INLINE_VALUE_MAX + 1} I\r\n`);
    assert.equal(out[1], data);
  });
});
