import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { keyList } from '../../helpers/keys.ts';
import {
  md5FirstWord,
  md5FirstWords,
  md5FirstWordsLanes,
  md5FirstWordsSimd,
  ketamaHash,
} from '../../../src/routing/hash.ts';

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

type FirstWords = (keys: ReturnType<typeof keyList>, out: Uint32Array) => void;

for (const [name, firstWords] of [
  ['md5FirstWords', md5FirstWords],
  ['the JS lanes', md5FirstWordsLanes],
  ['the WebAssembly SIMD module', md5FirstWordsSimd()],
] as Array<[string, FirstWords | null]>) {
  describe(`md5FirstWords: ${name} (a multi-get's keys)`, () => {
    it('gives each key what md5FirstWord gives it, whatever the lengths and count', () => {
      assert.ok(firstWords !== null, 'WebAssembly SIMD is available on this runtime');
      fc.assert(
        // any length up to 80 as likely as any other: keys past one block (56+) are common too
        fc.property(
          fc.array(fc.uint8Array({ maxLength: 80, size: 'max' }), { maxLength: 20, size: 'max' }),
          (keys) => {
            const out = new Uint32Array(keys.length + 2).fill(7);
            firstWords(keyList(keys), out);
            keys.forEach((key, i) => {
              assert.equal(out[i], reference(key), `key ${i} of ${keys.length} (${key.length} bytes)`);
            });
            assert.deepEqual([...out.subarray(keys.length)], [7, 7], 'nothing written past the keys');
          },
        ),
        { numRuns: 2000 },
      );
    });

    it('hashes every length from 0 to 56 bytes in every lane', () => {
      assert.ok(firstWords !== null);
      const keys = Array.from({ length: 57 * 8 }, (_, i) =>
        Uint8Array.from({ length: i >> 3 }, (_, j) => (j * 29 + i) & 0xff),
      );
      const out = new Uint32Array(keys.length);
      firstWords(keyList(keys), out);
      keys.forEach((key, i) => {
        assert.equal(out[i], reference(key), `key ${i} (${key.length} bytes, lane ${i % 8})`);
      });
    });

    it('hashes 1,100 keys in one go (past the 512 the module takes per call)', () => {
      assert.ok(firstWords !== null);
      const keys = Array.from({ length: 1100 }, (_, i) => Buffer.from(`key:${i}:${'x'.repeat(i % 50)}`));
      const out = new Uint32Array(keys.length);
      firstWords(keyList(keys), out);
      keys.forEach((key, i) => {
        assert.equal(out[i], reference(key), `key ${i}`);
      });
    });

    it('hashes keys longer than one block beside short ones, without disturbing them', () => {
      assert.ok(firstWords !== null);
      for (const longLength of [56, 64, 80, 120, 250]) {
        for (let at = 0; at < 8; at++) {
          const keys = Array.from({ length: 24 }, (_, i) =>
            i % 8 === at ? Buffer.alloc(longLength, 0xa0 + i) : Buffer.from(`k${i}`),
          );
          const out = new Uint32Array(keys.length);
          firstWords(keyList(keys), out);
          keys.forEach((key, i) => {
            assert.equal(out[i], reference(key), `${longLength}-byte keys at ${at}: key ${i}`);
          });
        }
      }
    });

    it('is not disturbed by the keys before (long keys, then short ones in the same lanes)', () => {
      assert.ok(firstWords !== null);
      const long = Buffer.alloc(55, 0xff);
      const out = new Uint32Array(8);
      firstWords(keyList(Array.from({ length: 8 }, () => long)), out);
      const short = [Buffer.from('a'), Buffer.from(''), Buffer.from('key:1'), Buffer.from('b')];
      firstWords(keyList(short), out);
      short.forEach((key, i) => {
        assert.equal(out[i], reference(key));
      });
    });
  });
}
