import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { crc32Hash, ketamaHash, md5, md5FirstWord, oneAtATime } from '../../../src/routing/hash.ts';

const b = (s: string): Buffer => Buffer.from(s);
const hex = (h: string): Buffer => Buffer.from(h, 'hex');

// libmemcached 1.1.4 test/fixtures/hashes.hpp: input words and the one_at_a_time, md5 and crc rows.
const WORDS = [
  'apple',
  'beat',
  'carrot',
  'daikon',
  'eggplant',
  'flower',
  'green',
  'hide',
  'ick',
  'jack',
  'kick',
  'lime',
  'mushrooms',
  'nectarine',
  'orange',
  'peach',
  'quant',
  'ripen',
  'strawberry',
  'tang',
  'up',
  'volumne',
  'when',
  'yellow',
  'zip',
  'The quick brown fox jumps over the lazy dog',
];
const ONE_AT_A_TIME = [
  2297466611, 3902465932, 469785835, 1937308741, 261917617, 3785641677, 1439605128, 1649152283, 1493851484,
  1246520657, 2221159044, 1973511823, 384136800, 214358653, 2379473940, 4269788650, 2864377005, 2638630052,
  427683330, 990491717, 1747111141, 792127364, 2599214128, 2553037199, 2509838425, 1369346549,
];
const MD5 = [
  3195025439, 2556848621, 3724893440, 3332385401, 245758794, 2550894432, 121710495, 3053817768, 1250994555,
  1862072655, 2631955953, 2951528551, 1451250070, 2820856945, 2060845566, 3646985608, 2138080750, 217675895,
  2230934345, 1234361223, 3968582726, 2455685270, 1293568479, 199067604, 2042482093, 2642219166,
];
const CRC = [
  10542, 22009, 14526, 19510, 19432, 10199, 20634, 9369, 11511, 10362, 7893, 31289, 11313, 9354, 7621, 30628,
  15218, 25967, 2695, 9380, 17300, 28156, 9192, 20484, 16925, 16719,
];

// Bytes >= 0x80 and NUL, answered by libhashkit 1.1.4 (libhashkit_one_at_a_time / _md5 / _crc32).
const BINARY: [string, number, number, number][] = [
  ['80', 3273477671, 2128427405, 16314],
  ['ff', 2925896852, 3561969920, 32512],
  ['636166c3a9', 3650908318, 3833532679, 6317],
  ['deadbeef', 926711246, 814883887, 31900],
  ['61007a', 1469669369, 4136759781, 1668],
];

describe('md5 / ketamaHash', () => {
  it('is the MD5 digest', () => {
    assert.equal(md5(b('hello')).toString('hex'), '5d41402abc4b2a76b9719d911017c592');
    assert.equal(md5(Buffer.alloc(0)).toString('hex'), 'd41d8cd98f00b204e9800998ecf8427e');
  });

  it("matches twemproxy's ketama_hash known answers for server1-8", () => {
    assert.equal(ketamaHash(b('server1-8'), 0), 3853726576);
    assert.equal(ketamaHash(b('server1-8'), 3), 2667054752);
  });

  it('takes each 4-byte group little-endian', () => {
    const d = md5(b('server1-8'));
    for (let a = 0; a < 4; a++) assert.equal(ketamaHash(b('server1-8'), a), d.readUInt32LE(a * 4));
    assert.equal(ketamaHash(b('server1-8')), ketamaHash(b('server1-8'), 0));
  });

  it("matches libmemcached's md5 hash vectors", () => {
    WORDS.forEach((w, i) => {
      assert.equal(ketamaHash(b(w)), MD5[i], w);
    });
  });
});

describe('crc32Hash', () => {
  it('is (crc32 >> 16) & 0x7fff: twemproxy/libmemcached "apple" = 10542', () => {
    assert.equal(crc32Hash(b('apple')), 10542);
  });

  it("matches libmemcached's crc vectors", () => {
    WORDS.forEach((w, i) => {
      assert.equal(crc32Hash(b(w)), CRC[i], w);
    });
  });

  it('matches the libvbucket table (spec §5.1): crc32 and 15-bit hash', () => {
    const table: [string, number, number][] = [
      ['hello', 0x3610a686, 13840],
      ['doctor', 0x1fc0f36a, 8128],
      ['name', 0x5e237e06, 24099],
      ['continue', 0x13e32adf, 5091],
      ['yesterday', 0xe5342a36, 25908],
      ['tomorrow', 0x2589c7c9, 9609],
      ['another key', 0x28a2ef89, 10402],
      ['foo', 0x8c736521, 3187],
      ['user:1234', 0xb0b05457, 12464],
    ];
    for (const [key, crc, h] of table) {
      assert.equal(crc32(b(key)), crc, key);
      assert.equal(crc32Hash(b(key)), h, key);
    }
  });
});

describe('oneAtATime', () => {
  it("matches libmemcached's one_at_a_time vectors", () => {
    WORDS.forEach((w, i) => {
      assert.equal(oneAtATime(b(w)), ONE_AT_A_TIME[i], w);
    });
  });

  it('is 0 for the empty key', () => {
    assert.equal(oneAtATime(Buffer.alloc(0)), 0);
  });
});

describe('binary keys (sign extension, NUL)', () => {
  it('match libhashkit 1.1.4', () => {
    for (const [h, oaat, m, crc] of BINARY) {
      assert.equal(oneAtATime(hex(h)), oaat, h);
      assert.equal(ketamaHash(hex(h)), m, h);
      assert.equal(crc32Hash(hex(h)), crc, h);
    }
  });

  it('one-at-a-time reads bytes as signed chars', () => {
    // With unsigned bytes 0x80 would add 0x80; libmemcached adds (uint32)(char)0x80 = 0xffffff80.
    let v = 0xffffff80;
    v = (v + (v << 10)) >>> 0;
    v = (v ^ (v >>> 6)) >>> 0;
    v = (v + (v << 3)) >>> 0;
    v = (v ^ (v >>> 11)) >>> 0;
    v = (v + (v << 15)) >>> 0;
    assert.equal(oneAtATime(hex('80')), v);
  });

  it('accept any Uint8Array view', () => {
    const buf = Buffer.from('xxapplexx');
    assert.equal(oneAtATime(buf.subarray(2, 7)), ONE_AT_A_TIME[0]);
    assert.equal(ketamaHash(new Uint8Array(buf.subarray(2, 7))), MD5[0]);
    assert.equal(crc32Hash(buf.subarray(2, 7)), CRC[0]);
  });

  it('hash bytes start..end of a buffer as they hash a view of them (md5 across block edges too)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = a % (bytes.length + 1);
        const end = start + (b % (bytes.length - start + 1));
        const view = bytes.subarray(start, end);
        assert.equal(md5FirstWord(bytes, start, end), ketamaHash(view));
        assert.equal(oneAtATime(bytes, start, end), oneAtATime(view));
      }),
      { numRuns: 500 },
    );
  });
});
