import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { keyList } from '../../helpers/keys.ts';
import { md5FirstWord, md5FirstWords, ketamaHash } from '../../../src/routing/hash.ts';

/** The first four digest bytes, little-endian, as libmemcached's hashkit_md5 returns them. */
function reference(data: Uint8Array): number {
  return createHash('md5').update(data).digest().readUInt32LE(0);
}

describe('md5FirstWord (the JS MD5 behind ketama key hashes)', () => {
  it('matches node:crypto on every length from 0 to 300 bytes (block and padding edges)', () => {
    for (let n = 0; n <= 300; n++) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 131 + n * 7) & 0xff);
      assert.equal(md5FirstWord(data), reference(data), `length ${n}`);
    }
  });

  it('matches node:crypto on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (data) => md5FirstWord(data) === reference(data)),
      { numRuns: 2000 },
    );
  });

  it('is what ketamaHash returns for alignment 0, and RFC 1321 test vectors agree', () => {
    assert.equal(ketamaHash(Buffer.from('abc')), 0x98500190); // md5("abc") = 900150983cd24fb0...
    assert.equal(md5FirstWord(Buffer.from('')), 0xd98c1dd4); // md5("") = d41d8cd98f00b204...
  });
});

describe("md5FirstWords (a multi-get's keys, four at a time)", () => {
  it('gives each key what md5FirstWord gives it, whatever the lengths and count', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 14 }), (keys) => {
        const out = new Uint32Array(keys.length + 2).fill(7);
        md5FirstWords(keyList(keys), out);
        keys.forEach((key, i) => {
          assert.equal(out[i], reference(key), `key ${i} of ${keys.length} (${key.length} bytes)`);
        });
        assert.deepEqual([...out.subarray(keys.length)], [7, 7], 'nothing written past the keys');
      }),
      { numRuns: 2000 },
    );
  });

  it('is not disturbed by the keys before (a long key, then short ones in the same lanes)', () => {
    const long = Buffer.alloc(55, 0xff);
    const out = new Uint32Array(4);
    md5FirstWords(keyList([long, long, long, long]), out);
    const short = [Buffer.from('a'), Buffer.from(''), Buffer.from('key:1'), Buffer.from('b')];
    md5FirstWords(keyList(short), out);
    short.forEach((key, i) => {
      assert.equal(out[i], reference(key));
    });
  });
});
