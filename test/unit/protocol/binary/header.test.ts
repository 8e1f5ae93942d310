// The 24-byte header codec on golden bytes (the binary protocol spec's examples), at non-zero offsets,
// with extreme field values, and for the shared vbucket/status field.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  createHeader,
  decodeHeader,
  encodeHeader,
  HEADER_LENGTH,
  HeaderOffset,
  readCas,
  type BinaryHeader,
} from '../../../../src/protocol/binary/header.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// "Get" response example from the binary protocol spec: extras 4, body 9, cas 1.
const GET_RESPONSE_HEADER = hex('81 00 0000 04 00 0000 00000009 00000000 0000000000000001');

describe('binary header', () => {
  it('is 24 bytes with the fields at their spec offsets', () => {
    assert.equal(HEADER_LENGTH, 24);
    assert.deepEqual(
      { ...HeaderOffset },
      {
        magic: 0,
        opcode: 1,
        keyLength: 2,
        extrasLength: 4,
        dataType: 5,
        vbucket: 6,
        status: 6,
        bodyLength: 8,
        opaque: 12,
        cas: 16,
      },
    );
  });

  it('decodes golden bytes into the given object', () => {
    const h = createHeader();
    const out = decodeHeader(GET_RESPONSE_HEADER, 0, h);
    assert.equal(out, h);
    assert.deepEqual(h, {
      magic: 0x81,
      opcode: 0,
      keyLength: 0,
      extrasLength: 4,
      dataType: 0,
      vbucket: 0,
      status: 0,
      bodyLength: 9,
      opaque: 0,
      cas: 1n,
    });
  });

  it('decodes at an offset and reads bytes 6-7 as both vbucket and status', () => {
    const buf = Buffer.concat([
      Buffer.from('junk'),
      hex('80 01 0005 08 00 0301 00000012 deadbeef 0000000000000000'),
    ]);
    const h = decodeHeader(buf, 4, createHeader());
    assert.equal(h.magic, 0x80);
    assert.equal(h.opcode, 1);
    assert.equal(h.keyLength, 5);
    assert.equal(h.extrasLength, 8);
    assert.equal(h.vbucket, 0x301);
    assert.equal(h.status, 0x301);
    assert.equal(h.bodyLength, 0x12);
    assert.equal(h.opaque, 0xdeadbeef);
    assert.equal(h.cas, 0n);
  });

  it('encodes golden bytes, status for responses and vbucket for requests', () => {
    const response: BinaryHeader = {
      ...createHeader(),
      magic: 0x81,
      extrasLength: 4,
      bodyLength: 9,
      cas: 1n,
    };
    const buf = Buffer.alloc(24, 0xee);
    assert.equal(encodeHeader(buf, 0, { ...response, vbucket: 0x1234 }), 24);
    assert.deepEqual(buf, GET_RESPONSE_HEADER);

    const request: BinaryHeader = { ...createHeader(), magic: 0x80, opcode: 0, keyLength: 5, bodyLength: 5 };
    const out = Buffer.alloc(30, 0xee);
    assert.equal(encodeHeader(out, 3, { ...request, vbucket: 0x0203, status: 0x7777 }), 27);
    assert.deepEqual(out.subarray(3, 27), hex('80 00 0005 00 00 0203 00000005 00000000 0000000000000000'));
    assert.equal(out[2], 0xee);
    assert.equal(out[27], 0xee);
  });

  it('round trips the largest field values', () => {
    const h: BinaryHeader = {
      magic: 0xff,
      opcode: 0xff,
      keyLength: 0xffff,
      extrasLength: 0xff,
      dataType: 0xff,
      vbucket: 0xffff,
      status: 0xffff,
      bodyLength: 0xffffffff,
      opaque: 0xffffffff,
      cas: 2n ** 64n - 1n,
    };
    const buf = Buffer.alloc(24);
    encodeHeader(buf, 0, h);
    assert.deepEqual(buf, Buffer.alloc(24, 0xff));
    assert.deepEqual(decodeHeader(buf, 0, createHeader()), h);
  });

  it('reads a cas whose high or low half alone is set', () => {
    const buf = Buffer.alloc(24);
    buf.writeUInt32BE(1, 16);
    assert.equal(readCas(buf, 0), 2n ** 32n);
    buf.writeUInt32BE(0, 16);
    buf.writeUInt32BE(7, 20);
    assert.equal(readCas(buf, 0), 7n);
  });

  it('refuses out-of-range values instead of wrapping them', () => {
    const buf = Buffer.alloc(24);
    assert.throws(() => encodeHeader(buf, 0, { ...createHeader(), keyLength: 0x10000 }), RangeError);
    assert.throws(() => encodeHeader(buf, 0, { ...createHeader(), opaque: -1 }), RangeError);
    assert.throws(() => encodeHeader(buf, 0, { ...createHeader(), cas: 2n ** 64n }), RangeError);
  });
});
