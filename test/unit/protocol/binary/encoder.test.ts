// Request/response encoding on golden bytes (the binary protocol spec's examples), memcached-style error
// responses, latin1 strings, and the extras helpers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ARITH_NO_CREATE,
  decodeArithExtras,
  decodeArithValue,
  decodeExpirationExtras,
  decodeFlagsExtras,
  decodeSetExtras,
  encodeArithExtras,
  encodeArithValue,
  encodeErrorResponse,
  encodeExpirationExtras,
  encodeFlagsExtras,
  encodeRequest,
  encodeResponse,
  encodeSetExtras,
} from '../../../../src/protocol/binary/encoder.ts';
import { DEFAULT_ERROR_TEXT, Opcode, Status } from '../../../../src/protocol/binary/opcodes.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ZERO_CAS = '0000000000000000';

describe('binary encoder', () => {
  it('encodes a GET request', () => {
    assert.deepEqual(
      encodeRequest({ opcode: Opcode.GET, key: 'Hello' }),
      hex(`80 00 0005 00 00 0000 00000005 00000000 ${ZERO_CAS} 48656c6c6f`),
    );
  });

  it('encodes an ADD request with flags and expiration extras', () => {
    const packet = encodeRequest({
      opcode: Opcode.ADD,
      key: 'Hello',
      value: Buffer.from('World'),
      extras: encodeSetExtras(0xdeadbeef, 0xe10),
    });
    assert.deepEqual(
      packet,
      hex(`80 02 0005 08 00 0000 00000012 00000000 ${ZERO_CAS} deadbeef 00000e10 48656c6c6f 576f726c64`),
    );
  });

  it('encodes an INCREMENT request with vbucket, opaque and cas', () => {
    const packet = encodeRequest({
      opcode: Opcode.INCREMENT,
      key: 'counter',
      extras: encodeArithExtras(1n, 0n, 0xe10),
      vbucket: 0x0102,
      opaque: 0xcafef00d,
      cas: 0x0102030405060708n,
    });
    assert.deepEqual(
      packet,
      hex(
        '80 05 0007 14 00 0102 0000001b cafef00d 0102030405060708' +
          '0000000000000001 0000000000000000 00000e10 636f756e746572',
      ),
    );
  });

  it('encodes a GET hit response with flags extras and cas', () => {
    const packet = encodeResponse({
      opcode: Opcode.GET,
      extras: encodeFlagsExtras(0xdeadbeef),
      value: 'World',
      cas: 1n,
    });
    assert.deepEqual(
      packet,
      hex('81 00 0000 04 00 0000 00000009 00000000 0000000000000001 deadbeef 576f726c64'),
    );
  });

  it('encodes a GETK response with key and status in bytes 6-7', () => {
    const packet = encodeResponse({ opcode: Opcode.GETK, status: Status.KEY_ENOENT, key: 'k', value: 'k' });
    assert.deepEqual(packet, hex(`81 0c 0001 00 00 0001 00000002 00000000 ${ZERO_CAS} 6b 6b`));
  });

  it('encodes error responses the way write_bin_error does', () => {
    assert.deepEqual(
      encodeErrorResponse(Opcode.GET, Status.KEY_ENOENT, 7),
      hex(`81 00 0000 00 00 0001 00000009 00000007 ${ZERO_CAS} 4e6f7420666f756e64`),
    );
    for (const [status, text] of Object.entries(DEFAULT_ERROR_TEXT)) {
      const packet = encodeErrorResponse(Opcode.SET, Number(status));
      assert.equal(packet.readUInt16BE(6), Number(status));
      assert.equal(packet.readUInt32BE(8), text.length);
      assert.equal(packet.subarray(24).toString('latin1'), text);
    }
    const own = encodeErrorResponse(Opcode.SET, Status.ENOMEM, 0, 'Out of memory allocating item');
    assert.equal(own.subarray(24).toString('latin1'), 'Out of memory allocating item');
    assert.equal(encodeErrorResponse(Opcode.SET, Status.EBUSY).length, 24);
  });

  it('writes strings as latin1, one byte per char', () => {
    const packet = encodeRequest({ opcode: Opcode.SET, key: 'k\u00e9\u00ff', value: '\u0080\u00a0' });
    assert.equal(packet.readUInt16BE(2), 3);
    assert.equal(packet.readUInt32BE(8), 5);
    assert.deepEqual(packet.subarray(24), hex('6b e9 ff 80 a0'));
  });

  it('writes empty keys and values and exact lengths', () => {
    assert.deepEqual(
      encodeRequest({ opcode: Opcode.NOOP }),
      hex(`80 0a 0000 00 00 0000 00000000 00000000 ${ZERO_CAS}`),
    );
    const packet = encodeRequest({
      opcode: Opcode.SET,
      key: '',
      value: Buffer.alloc(0),
      extras: new Uint8Array(0),
    });
    assert.equal(packet.length, 24);
  });

  it('refuses keys and extras the header cannot describe', () => {
    assert.throws(() => encodeRequest({ opcode: Opcode.GET, key: Buffer.alloc(0x10000) }), RangeError);
    assert.throws(() => encodeRequest({ opcode: Opcode.GET, extras: new Uint8Array(256) }), RangeError);
    assert.equal(encodeRequest({ opcode: Opcode.GET, key: Buffer.alloc(0xffff) }).length, 24 + 0xffff);
  });

  it('round trips the extras helpers', () => {
    assert.deepEqual(decodeSetExtras(encodeSetExtras(0xffffffff, 0)), { flags: 0xffffffff, exptime: 0 });
    assert.deepEqual(decodeSetExtras(encodeSetExtras(0, 86400 * 30)), { flags: 0, exptime: 2592000 });
    const max = 2n ** 64n - 1n;
    assert.deepEqual(decodeArithExtras(encodeArithExtras(max, 5n, ARITH_NO_CREATE)), {
      delta: max,
      initial: 5n,
      exptime: 0xffffffff,
    });
    assert.equal(encodeArithExtras(1n, 0n, 0).length, 20);
    assert.equal(decodeExpirationExtras(encodeExpirationExtras(3600)), 3600);
    assert.equal(decodeFlagsExtras(encodeFlagsExtras(0x80000000)), 0x80000000);
    assert.equal(decodeArithValue(encodeArithValue(max)), max);
    assert.deepEqual(encodeArithValue(5n), hex('0000000000000005'));
  });

  it('casts a negative expiration like a C uint32_t', () => {
    assert.equal(decodeExpirationExtras(encodeExpirationExtras(-1)), ARITH_NO_CREATE);
    assert.equal(decodeSetExtras(encodeSetExtras(0, -2)).exptime, 0xfffffffe);
  });
});
