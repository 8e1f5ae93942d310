/**
 * Text reply writers: exact bytes as memcached 1.6.18 writes them, decimal formatting of the whole u64
 * range from numbers and bigints, and the range checks that keep garbage off the wire.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decimalLength,
  formatDecimal,
  metaLine,
  numberReply,
  signedDecimalLength,
  statLine,
  TextReply,
  textLine,
  vaHeader,
  valueHeader,
  versionReply,
  writeDecimal,
  writeSignedDecimal,
} from '../../../../src/protocol/ascii/response-encoder.ts';

const s = (b: Buffer): string => b.toString('latin1');

describe('TextReply constants', () => {
  it('are the exact fixed lines', () => {
    const expected: Record<string, string> = {
      STORED: 'STORED\r\n',
      NOT_STORED: 'NOT_STORED\r\n',
      EXISTS: 'EXISTS\r\n',
      NOT_FOUND: 'NOT_FOUND\r\n',
      DELETED: 'DELETED\r\n',
      TOUCHED: 'TOUCHED\r\n',
      OK: 'OK\r\n',
      RESET: 'RESET\r\n',
      END: 'END\r\n',
      ERROR: 'ERROR\r\n',
      HD: 'HD\r\n',
      NF: 'NF\r\n',
      NS: 'NS\r\n',
      EX: 'EX\r\n',
      EN: 'EN\r\n',
      MN: 'MN\r\n',
      CRLF: '\r\n',
    };
    assert.deepEqual(Object.fromEntries(Object.entries(TextReply).map(([k, v]) => [k, s(v)])), expected);
  });
});

describe('decimal formatting', () => {
  const cases: [number | bigint, string][] = [
    [0, '0'],
    [9, '9'],
    [10, '10'],
    [99, '99'],
    [100, '100'],
    [4294967295, '4294967295'],
    [999999999999999, '999999999999999'],
    [1000000000000000, '1000000000000000'],
    [Number.MAX_SAFE_INTEGER, '9007199254740991'],
    [2 ** 60, '1152921504606846976'],
    [0n, '0'],
    [9007199254740992n, '9007199254740992'],
    [9007199254740993n, '9007199254740993'],
    [1000000000000000000n, '1000000000000000000'],
    [10000000000000000000n, '10000000000000000000'],
    [18446744073709551615n, '18446744073709551615'],
  ];
  for (const [n, text] of cases) {
    it(`${typeof n} ${text}`, () => {
      assert.equal(decimalLength(n), text.length);
      assert.equal(s(formatDecimal(n)), text);
      assert.equal(s(numberReply(n)), `${text}\r\n`);
      const out = Buffer.alloc(text.length + 4, 0x2e);
      assert.equal(writeDecimal(out, 2, n), 2 + text.length);
      assert.equal(s(out), `..${text}..`);
    });
  }

  it('rejects what is not an unsigned 64-bit integer', () => {
    for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 64, -1n, 18446744073709551616n]) {
      assert.throws(() => formatDecimal(bad), RangeError, String(bad));
    }
  });

  it('matches BigInt#toString over the whole u64 range', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 18446744073709551615n }), (n) => {
        assert.equal(s(formatDecimal(n)), n.toString());
        if (n <= BigInt(Number.MAX_SAFE_INTEGER)) assert.equal(s(formatDecimal(Number(n))), n.toString());
      }),
      { numRuns: 2000 },
    );
  });

  it('writes signed safe integers (exptimes)', () => {
    for (const n of [0, -1, 7, -2592000, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]) {
      const out = Buffer.alloc(signedDecimalLength(n));
      assert.equal(writeSignedDecimal(out, 0, n), out.length);
      assert.equal(s(out), String(n));
    }
    assert.throws(() => signedDecimalLength(0.5), RangeError);
  });
});

describe('valueHeader', () => {
  it('without and with cas, as memcached writes them', () => {
    assert.equal(s(valueHeader(Buffer.from('a'), 5, 3)), 'VALUE a 5 3\r\n');
    assert.equal(s(valueHeader(Buffer.from('a'), 5, 3, null)), 'VALUE a 5 3\r\n');
    assert.equal(s(valueHeader(Buffer.from('z'), 4294967295, 0, 2)), 'VALUE z 4294967295 0 2\r\n');
    assert.equal(
      s(valueHeader(Buffer.from('big'), 7, 1048576, 18446744073709551615n)),
      'VALUE big 7 1048576 18446744073709551615\r\n',
    );
    assert.equal(s(valueHeader(Buffer.from('k'), 0, 1, 0n)), 'VALUE k 0 1 0\r\n');
  });

  it('copies key bytes verbatim', () => {
    const key = Buffer.from([0xc3, 0xa9, 0xff, 0x41]);
    const out = valueHeader(key, 0, 1);
    assert.deepEqual(out.subarray(6, 10), key);
  });

  it('rejects flags outside uint32 and bad numbers', () => {
    assert.throws(() => valueHeader(Buffer.from('k'), 4294967296, 1), RangeError);
    assert.throws(() => valueHeader(Buffer.from('k'), -1, 1), RangeError);
    assert.throws(() => valueHeader(Buffer.from('k'), NaN, 1), RangeError);
    assert.throws(() => valueHeader(Buffer.from('k'), 0, 1.5), RangeError);
    assert.throws(() => valueHeader(Buffer.from('k'), 0, 1, -1n), RangeError);
  });
});

describe('other lines', () => {
  it('statLine with string, Buffer, number and bigint parts', () => {
    assert.equal(s(statLine('pid', 5546)), 'STAT pid 5546\r\n');
    assert.equal(s(statLine('version', '1.6.18')), 'STAT version 1.6.18\r\n');
    assert.equal(s(statLine(Buffer.from('items:1:number'), Buffer.from('1'))), 'STAT items:1:number 1\r\n');
    assert.equal(s(statLine('rusage_user', '0.009236')), 'STAT rusage_user 0.009236\r\n');
    assert.equal(
      s(statLine('total_items', 18446744073709551615n)),
      'STAT total_items 18446744073709551615\r\n',
    );
    assert.equal(s(statLine('stat_key_prefix', ':')), 'STAT stat_key_prefix :\r\n');
  });

  it('versionReply and textLine', () => {
    assert.equal(s(versionReply('1.6.18')), 'VERSION 1.6.18\r\n');
    assert.equal(
      s(textLine('SERVER_ERROR out of memory storing object')),
      'SERVER_ERROR out of memory storing object\r\n',
    );
  });

  it('metaLine and vaHeader', () => {
    assert.equal(metaLine('HD'), TextReply.HD);
    assert.equal(metaLine('EN', []), TextReply.EN);
    assert.equal(s(metaLine('HD', ['c12'])), 'HD c12\r\n');
    assert.equal(s(metaLine('EN', [Buffer.from('kZm9v'), 'b'])), 'EN kZm9v b\r\n');
    assert.equal(
      s(metaLine('ME', ['cnt', 'exp=-1', 'la=1', 'cas=16', 'fetch=no', 'cls=1', 'size=63'])),
      'ME cnt exp=-1 la=1 cas=16 fetch=no cls=1 size=63\r\n',
    );
    assert.equal(s(metaLine('ME')), 'ME\r\n');
    assert.equal(s(vaHeader(2, ['c12', 'f7', 't-1', 's2', 'kk', 'O123'])), 'VA 2 c12 f7 t-1 s2 kk O123\r\n');
    assert.equal(s(vaHeader(0)), 'VA 0\r\n');
  });
});
