// Properties of the binary codec: any sequence of valid packets parses back to the same packets however
// the stream is cut (with and without a value limit), and header fields of any value round trip.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BinaryParseError, BinaryParser } from '../../src/protocol/binary/parser.ts';
import {
  decodeArithExtras,
  decodeSetExtras,
  encodeArithExtras,
  encodeRequest,
  encodeResponse,
  encodeSetExtras,
} from '../../src/protocol/binary/encoder.ts';
import {
  createHeader,
  decodeHeader,
  encodeHeader,
  type BinaryHeader,
} from '../../src/protocol/binary/header.ts';
import { Opcode } from '../../src/protocol/binary/opcodes.ts';
import { plainPacket, type PlainPacket } from '../helpers/packets.ts';

interface Fields {
  opcode: number;
  key: Buffer;
  extras: Buffer;
  value: Buffer;
  opaque: number;
  cas: bigint;
  shared: number;
  dataType: number;
}

const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));

const fieldsArb: fc.Arbitrary<Fields> = fc.record({
  opcode: fc.integer({ min: 0, max: 255 }),
  key: bytes(300),
  extras: bytes(40),
  value: fc.oneof(bytes(64), bytes(3000)),
  opaque: fc.integer({ min: 0, max: 0xffffffff }),
  cas: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  shared: fc.integer({ min: 0, max: 0xffff }),
  dataType: fc.integer({ min: 0, max: 255 }),
});

const TOUCH_AND_GAT = new Set<number>([Opcode.TOUCH, Opcode.GAT, Opcode.GATQ, Opcode.GATK, Opcode.GATKQ]);

/**
 * A request memcached reads nothing of past its key (touch and the gat family with their 4-byte extras
 * and a key, stat without extras): the parser ends it there, so a value would be read as the next
 * request (test/unit/protocol/binary/parser.test.ts has those cases).
 */
function endsAfterKey(f: Fields): boolean {
  if (f.opcode === Opcode.STAT) return f.extras.length === 0;
  return TOUCH_AND_GAT.has(f.opcode) && f.extras.length === 4 && f.key.length !== 0;
}

/** The fields as a packet of `magic` can carry them: a request that ends after its key has no value. */
function packetFields(magic: 0x80 | 0x81): fc.Arbitrary<Fields> {
  if (magic === 0x81) return fieldsArb;
  return fieldsArb.map((f) => (endsAfterKey(f) ? { ...f, value: Buffer.alloc(0) } : f));
}

function encode(magic: 0x80 | 0x81, f: Fields): Buffer {
  const common = {
    opcode: f.opcode,
    key: f.key,
    extras: f.extras,
    value: f.value,
    opaque: f.opaque,
    cas: f.cas,
  };
  return magic === 0x80
    ? encodeRequest({ ...common, vbucket: f.shared, dataType: f.dataType })
    : encodeResponse({ ...common, status: f.shared, dataType: f.dataType });
}

function expected(magic: number, f: Fields, frame: Buffer, maxBodyLength: number): PlainPacket {
  const truncated = f.value.length > maxBodyLength;
  return {
    magic,
    opcode: f.opcode,
    keyLength: f.key.length,
    extrasLength: f.extras.length,
    dataType: f.dataType,
    vbucket: f.shared,
    status: f.shared,
    bodyLength: f.extras.length + f.key.length + f.value.length,
    opaque: f.opaque,
    cas: f.cas,
    frame: truncated ? frame.subarray(0, 24 + f.extras.length + f.key.length) : frame,
    extras: f.extras,
    key: f.key,
    value: truncated ? Buffer.alloc(0) : f.value,
    valueLength: f.value.length,
    valueTruncated: truncated,
  };
}

/** Cuts `input` at the given fractions of its length. */
function cut(input: Buffer, fractions: readonly number[]): Buffer[] {
  const points = [...new Set(fractions.map((x) => Math.floor(x * input.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    if (p > prev) out.push(input.subarray(prev, p));
    prev = Math.max(prev, p);
  }
  out.push(input.subarray(prev));
  return out;
}

function parseAll(chunks: readonly Buffer[], magic: 0x80 | 0x81, maxBodyLength: number): PlainPacket[] {
  const parser = new BinaryParser({ magic, maxBodyLength });
  const out: PlainPacket[] = [];
  for (const chunk of chunks) {
    parser.push(chunk);
    for (let r = parser.next(); r !== null; r = parser.next()) {
      if (r instanceof BinaryParseError) throw r;
      out.push(plainPacket(r));
    }
  }
  assert.equal(parser.bufferedLength, 0);
  assert.equal(parser.discardingLength, 0);
  return out;
}

const chunkPoints = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 30 });

describe('binary codec properties', () => {
  for (const magic of [0x80, 0x81] as const) {
    const kind = magic === 0x80 ? 'requests' : 'responses';

    it(`any sequence of ${kind} parses back the same under any chunking`, () => {
      fc.assert(
        fc.property(
          fc.array(packetFields(magic), { minLength: 1, maxLength: 8 }),
          chunkPoints,
          (packets, points) => {
            const frames = packets.map((f) => encode(magic, f));
            const input = Buffer.concat(frames);
            const want = packets.map((f, i) => expected(magic, f, frames[i], Infinity));
            assert.deepEqual(parseAll(cut(input, points), magic, Infinity), want);
            assert.deepEqual(parseAll([input], magic, Infinity), want);
          },
        ),
        { numRuns: 150 },
      );
    });

    it(`${kind} over a value limit come out truncated and the stream stays in step`, () => {
      fc.assert(
        fc.property(
          fc.array(packetFields(magic), { minLength: 1, maxLength: 8 }),
          chunkPoints,
          fc.integer({ min: 0, max: 3000 }),
          (packets, points, maxBodyLength) => {
            const frames = packets.map((f) => encode(magic, f));
            const want = packets.map((f, i) => expected(magic, f, frames[i], maxBodyLength));
            assert.deepEqual(parseAll(cut(Buffer.concat(frames), points), magic, maxBodyLength), want);
          },
        ),
        { numRuns: 150 },
      );
    });
  }

  it('header fields of any value round trip', () => {
    fc.assert(
      fc.property(
        fc.record({
          magic: fc.constantFrom(0x80, 0x81),
          opcode: fc.integer({ min: 0, max: 255 }),
          keyLength: fc.integer({ min: 0, max: 0xffff }),
          extrasLength: fc.integer({ min: 0, max: 255 }),
          dataType: fc.integer({ min: 0, max: 255 }),
          shared: fc.integer({ min: 0, max: 0xffff }),
          bodyLength: fc.integer({ min: 0, max: 0xffffffff }),
          opaque: fc.integer({ min: 0, max: 0xffffffff }),
          cas: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        }),
        fc.integer({ min: 0, max: 16 }),
        ({ shared, ...rest }, offset) => {
          const h: BinaryHeader = { ...rest, vbucket: shared, status: shared };
          const buf = Buffer.alloc(offset + 24);
          assert.equal(encodeHeader(buf, offset, h), offset + 24);
          assert.deepEqual(decodeHeader(buf, offset, createHeader()), h);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('extras helpers round trip', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        (flags, exptime, delta, initial) => {
          assert.deepEqual(decodeSetExtras(encodeSetExtras(flags, exptime)), { flags, exptime });
          assert.deepEqual(decodeArithExtras(encodeArithExtras(delta, initial, exptime)), {
            delta,
            initial,
            exptime,
          });
        },
      ),
    );
  });
});
