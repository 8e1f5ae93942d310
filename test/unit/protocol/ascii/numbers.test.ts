import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseInt32, parseUint32, parseUint64 } from '../../../../src/protocol/ascii/numbers.ts';

const b = (s: string): [Buffer, number, number] => {
  const buf = Buffer.from(s, 'latin1');
  return [buf, 0, buf.length];
};

describe('memcached number parsing (safe_strto*)', () => {
  it('parses plain numbers', () => {
    assert.equal(parseInt32(...b('123')), 123);
    assert.equal(parseUint32(...b('4294967295')), 4294967295);
    assert.equal(parseUint64(...b('18446744073709551615')), 18446744073709551615n);
  });

  it('rejects empty, junk and out-of-range input', () => {
    for (const s of ['', 'abc', '12abc', '0x10', '+', '-']) {
      assert.equal(parseInt32(...b(s)), undefined, s);
      assert.equal(parseUint64(...b(s)), undefined, s);
    }
    assert.equal(parseUint64(...b('18446744073709551616')), undefined);
    assert.equal(parseInt32(...b('9223372036854775808')), undefined);
  });

  it('accepts what strtol accepts around the digits', () => {
    assert.equal(parseInt32(...b('+5')), 5);
    assert.equal(parseInt32(...b('\t7')), 7);
    assert.equal(parseInt32(...b('7\tjunk')), 7);
    assert.equal(parseInt32(...b('-3')), -3);
  });

  it('truncates like a C int32/uint32 store', () => {
    assert.equal(parseInt32(...b('4294967297')), 1);
    assert.equal(parseInt32(...b('2147483648')), -2147483648);
    assert.equal(parseUint32(...b('4294967296')), 0);
  });

  it('rejects negative unsigned values unless they wrap to a small positive', () => {
    assert.equal(parseUint32(...b('-1')), undefined);
    assert.equal(parseUint64(...b('-1')), undefined);
    assert.equal(parseUint64(...b('-0')), 0n);
    assert.equal(parseUint64(...b('-18446744073709551615')), 1n);
  });

  it('agrees with BigInt on every plain decimal in range', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (n) => {
        assert.equal(parseUint64(...b(n.toString())), n);
        assert.equal(parseUint32(...b(n.toString())), Number(BigInt.asUintN(32, n)));
      }),
    );
  });
});
