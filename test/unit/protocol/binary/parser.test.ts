// The incremental binary frame parser. Every case is fed whole, byte by byte and at random split points
// and must give the same packets; error and discard cases follow memcached 1.6.18's proto_bin.c.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chunkings } from '../../../helpers/chunking.ts';
import { SeededRandom } from '../../../helpers/random.ts';
import {
  BinaryParseError,
  BinaryParser,
  type BinaryParserOptions,
} from '../../../../src/protocol/binary/parser.ts';
import {
  encodeArithExtras,
  encodeErrorResponse,
  encodeExpirationExtras,
  encodeFlagsExtras,
  encodeRequest,
  encodeResponse,
  encodeSetExtras,
  type Bytes,
} from '../../../../src/protocol/binary/encoder.ts';
import {
  DEFAULT_ERROR_TEXT,
  isQuiet,
  Magic,
  OPCODE_INFO,
  Opcode,
  opcodeName,
  Status,
} from '../../../../src/protocol/binary/opcodes.ts';
import { plainPacket, plainResult, type PlainPacket } from '../../../helpers/packets.ts';

const REQUESTS: BinaryParserOptions = { magic: Magic.Request };
const RESPONSES: BinaryParserOptions = { magic: Magic.Response };

interface Fields {
  opcode: number;
  key?: Bytes;
  extras?: Buffer;
  value?: Bytes;
  opaque?: number;
  cas?: bigint;
  vbucket?: number;
  status?: number;
  dataType?: number;
}

/** An encoded packet and the packet the parser must return for it. */
interface Case {
  bytes: Buffer;
  expect: PlainPacket;
}

const bytesOf = (b: Bytes | undefined): Buffer =>
  b === undefined ? Buffer.alloc(0) : typeof b === 'string' ? Buffer.from(b, 'latin1') : b;

// The expectation is built from the fields, not by decoding, so encoder and parser check each other.
function expected(magic: number, f: Fields, frame: Buffer): PlainPacket {
  const key = bytesOf(f.key);
  const extras = f.extras ?? Buffer.alloc(0);
  const value = bytesOf(f.value);
  const shared = magic === Magic.Request ? (f.vbucket ?? 0) : (f.status ?? 0);
  return {
    magic,
    opcode: f.opcode,
    keyLength: key.length,
    extrasLength: extras.length,
    dataType: f.dataType ?? 0,
    vbucket: shared,
    status: shared,
    bodyLength: extras.length + key.length + value.length,
    opaque: f.opaque ?? 0,
    cas: f.cas ?? 0n,
    frame,
    extras,
    key,
    value,
    valueLength: value.length,
    valueTruncated: false,
  };
}

function req(f: Fields): Case {
  const bytes = encodeRequest(f);
  return { bytes, expect: expected(Magic.Request, f, bytes) };
}

function res(f: Fields): Case {
  const bytes = encodeResponse(f);
  return { bytes, expect: expected(Magic.Response, f, bytes) };
}

/** What the parser is expected to make of a case whose value is over the limit. */
function truncated(c: Case): Case {
  const e = c.expect;
  return {
    bytes: c.bytes,
    expect: {
      ...e,
      frame: c.bytes.subarray(0, 24 + e.extrasLength + e.keyLength),
      value: Buffer.alloc(0),
      valueTruncated: true,
    },
  };
}

interface Outcome {
  packets: PlainPacket[];
  error: BinaryParseError | null;
}

function parse(chunks: readonly Buffer[], options: BinaryParserOptions): Outcome {
  const parser = new BinaryParser(options);
  const packets: PlainPacket[] = [];
  for (const chunk of chunks) {
    parser.push(chunk);
    for (;;) {
      const r = parser.next();
      if (r === null) break;
      if (r instanceof BinaryParseError) return { packets, error: r };
      packets.push(plainPacket(r));
    }
  }
  return { packets, error: null };
}

/** Feeds `cases` back to back in every chunking and checks every packet comes out as expected. */
function checkStream(cases: readonly Case[], options: BinaryParserOptions): void {
  const input = Buffer.concat(cases.map((c) => c.bytes));
  for (const chunking of chunkings(input)) {
    const { packets, error } = parse(chunking.chunks, options);
    assert.equal(error, null, `${chunking.name}: ${error?.message}`);
    assert.equal(packets.length, cases.length, chunking.name);
    for (let i = 0; i < cases.length; i++)
      assert.deepEqual(packets[i], cases[i].expect, `${chunking.name} #${i}`);
  }
}

/** Feeds `input` in every chunking and checks the packets before the error and the error itself. */
function checkError(
  input: Buffer,
  options: BinaryParserOptions,
  before: readonly Case[],
  code: BinaryParseError['code'],
  fields: Partial<
    Pick<BinaryParseError, 'opcode' | 'opaque' | 'keyLength' | 'extrasLength' | 'bodyLength'>
  > = {},
): void {
  for (const chunking of chunkings(input)) {
    const { packets, error } = parse(chunking.chunks, options);
    assert.deepEqual(
      packets,
      before.map((c) => c.expect),
      chunking.name,
    );
    assert.ok(error, `${chunking.name}: expected ${code}`);
    assert.equal(error.code, code, chunking.name);
    for (const [name, value] of Object.entries(fields)) {
      assert.equal(error[name as keyof typeof fields], value, `${chunking.name} ${name}`);
    }
  }
}

/** Requests memcached reads nothing of past their key (process_bin_get_or_touch, process_bin_stat). */
const KEY_ONLY = new Set<number>([
  Opcode.TOUCH,
  Opcode.GAT,
  Opcode.GATQ,
  Opcode.GATK,
  Opcode.GATKQ,
  Opcode.STAT,
]);

/** A plausible request for `op`, shaped by the opcode table's key and extras rules. */
function requestFor(op: number, n: number): Case {
  const info = OPCODE_INFO[op];
  const extrasLength = info?.requestExtras ?? 4;
  const key = info?.key === 'none' ? undefined : `key:${opcodeName(op)}`;
  return req({
    opcode: op,
    key,
    extras: Buffer.alloc(extrasLength, n),
    value: n % 2 === 0 && !KEY_ONLY.has(op) ? `value ${n}` : undefined,
    opaque: n * 0x01010101,
    vbucket: n,
    cas: BigInt(n) << 40n,
  });
}

const allOpcodes = (): number[] => OPCODE_INFO.flatMap((info) => (info === undefined ? [] : [info.opcode]));

describe('BinaryParser', () => {
  it('round trips a request of every opcode, one per stream', () => {
    allOpcodes().forEach((op, n) => {
      checkStream([requestFor(op, n)], REQUESTS);
    });
  });

  it('round trips every opcode back to back in one stream, unknown opcodes included', () => {
    const ops = [...allOpcodes(), 0x1b, 0x30, 0xfe, 0xff];
    checkStream(
      ops.map((op, n) => requestFor(op, n)),
      REQUESTS,
    );
  });

  it('round trips a response of every opcode', () => {
    const cases = allOpcodes().map((op, n) =>
      res({
        opcode: op,
        status: n % 3 === 0 ? Status.SUCCESS : Status.KEY_ENOENT,
        extras: n % 2 === 0 ? encodeFlagsExtras(n) : undefined,
        key: n % 4 === 0 ? 'k' : undefined,
        value: `v${n}`,
        opaque: 0xffffffff - n,
        cas: 2n ** 64n - 1n - BigInt(n),
      }),
    );
    checkStream(cases, RESPONSES);
  });

  it('parses a GETKQ multiget pipeline with its NOOP terminator', () => {
    const cases = [
      req({ opcode: Opcode.GETKQ, key: 'someVal0', opaque: 4 }),
      req({ opcode: Opcode.GETKQ, key: 'someVal1', opaque: 13 }),
      req({ opcode: Opcode.GETKQ, key: 'someVal2', opaque: 22, vbucket: 1023 }),
      req({ opcode: Opcode.NOOP }),
    ];
    checkStream(cases, REQUESTS);
    const { packets } = parse([Buffer.concat(cases.map((c) => c.bytes))], REQUESTS);
    assert.deepEqual(
      packets.map((p) => isQuiet(p.opcode)),
      [true, true, true, false],
    );
  });

  it('parses quiet storage commands mixed with loud ones', () => {
    checkStream(
      [
        req({ opcode: Opcode.SETQ, key: 'a', extras: encodeSetExtras(1, 0), value: 'x' }),
        req({ opcode: Opcode.ADDQ, key: 'b', extras: encodeSetExtras(2, 10), value: 'yy' }),
        req({ opcode: Opcode.INCREMENTQ, key: 'c', extras: encodeArithExtras(5n, 1n, 0) }),
        req({ opcode: Opcode.DELETEQ, key: 'd', cas: 99n }),
        req({ opcode: Opcode.GATKQ, key: 'e', extras: encodeExpirationExtras(60) }),
        req({ opcode: Opcode.FLUSHQ }),
        req({ opcode: Opcode.GET, key: 'a' }),
      ],
      REQUESTS,
    );
  });

  it('parses the responses to a multiget: hits, a miss with key, and the NOOP', () => {
    checkStream(
      [
        res({
          opcode: Opcode.GETKQ,
          key: 'a',
          extras: encodeFlagsExtras(0),
          value: 'hello',
          cas: 5n,
          opaque: 4,
        }),
        res({ opcode: Opcode.GETK, status: Status.KEY_ENOENT, key: 'b', value: 'b', opaque: 13 }),
        res({ opcode: Opcode.GETKQ, key: 'c', extras: encodeFlagsExtras(0xffffffff), value: '', cas: 6n }),
        res({ opcode: Opcode.NOOP }),
      ],
      RESPONSES,
    );
  });

  it('parses error responses with status and text', () => {
    const cases: Case[] = [];
    for (const [status, text] of Object.entries(DEFAULT_ERROR_TEXT)) {
      const bytes = encodeErrorResponse(Opcode.SET, Number(status), Number(status));
      cases.push({
        bytes,
        expect: expected(
          Magic.Response,
          { opcode: Opcode.SET, status: Number(status), value: text, opaque: Number(status) },
          bytes,
        ),
      });
    }
    cases.push(res({ opcode: Opcode.GET, status: Status.NOT_MY_VBUCKET, opaque: 12 }));
    cases.push(res({ opcode: Opcode.SET, status: Status.EBUSY, value: 'System is busy' }));
    checkStream(cases, RESPONSES);
  });

  it('handles empty keys and values and 250-byte keys', () => {
    const key250 = Buffer.alloc(250, 'k');
    checkStream(
      [
        req({ opcode: Opcode.NOOP }),
        req({ opcode: Opcode.SET, key: key250, extras: encodeSetExtras(0, 0), value: '' }),
        req({ opcode: Opcode.GET, key: key250 }),
        req({ opcode: Opcode.STAT }),
        req({ opcode: Opcode.VERSION }),
      ],
      REQUESTS,
    );
    checkStream(
      [res({ opcode: Opcode.GET, extras: encodeFlagsExtras(1), value: '' }), res({ opcode: Opcode.SET })],
      RESPONSES,
    );
  });

  it('handles the largest key the header allows', () => {
    checkStream(
      [req({ opcode: Opcode.GET, key: Buffer.alloc(0xffff, 0x41) }), req({ opcode: Opcode.NOOP })],
      REQUESTS,
    );
  });

  it('handles a 1 MB value followed by another packet', () => {
    const value = Buffer.alloc(1024 * 1024);
    const rnd = new SeededRandom(42);
    for (let i = 0; i < value.length; i += 4) value.writeUInt32LE(Math.floor(rnd.next() * 2 ** 32), i);
    checkStream(
      [
        req({ opcode: Opcode.SET, key: 'big', extras: encodeSetExtras(3, 0), value }),
        req({ opcode: Opcode.NOOP, opaque: 1 }),
      ],
      REQUESTS,
    );
  });

  it('returns a large value that arrived in several reads as those pieces, joined only on demand', () => {
    const value = Buffer.alloc(200 * 1024);
    const rnd = new SeededRandom(7);
    for (let i = 0; i < value.length; i += 4) value.writeUInt32LE(Math.floor(rnd.next() * 2 ** 32), i);
    const big = res({ opcode: Opcode.GETK, key: 'big', extras: encodeSetExtras(9, 0), value });
    const next = res({ opcode: Opcode.NOOP, opaque: 5 });
    const stream = Buffer.concat([big.bytes, next.bytes]);
    const parser = new BinaryParser(RESPONSES);
    const reads: Buffer[] = [];
    for (let at = 0; at < stream.length; at += 64 * 1024) reads.push(stream.subarray(at, at + 64 * 1024));
    for (const r of reads) parser.push(r);
    const packet = parser.next();
    assert.ok(packet !== null && !(packet instanceof BinaryParseError));
    const parts = packet.valueParts;
    assert.ok(parts !== null && parts.length > 1, 'the value comes in pieces');
    assert.ok(Buffer.concat(parts).equals(value));
    assert.equal(parts[1].buffer, reads[1].buffer, 'pieces are views of the reads, not copies');
    assert.equal(packet.head.readUInt32BE(24), 9, 'flags are read from the head without joining');
    assert.equal(parser.lastFrameOwned, true, "the joined frame is the packet's own");
    assert.deepEqual(plainPacket(packet), big.expect);
    assert.deepEqual(plainResult(parser.next()), next.expect);
    assert.equal(parser.next(), null);
  });

  it('tells how many bytes of a large value are still to come once its key is in, and only then', () => {
    const value = Buffer.alloc(100 * 1024, 0x61);
    const big = res({ opcode: Opcode.GETK, key: 'big', extras: encodeFlagsExtras(0), value });
    const small = res({
      opcode: Opcode.GETK,
      key: 'small',
      extras: encodeFlagsExtras(0),
      value: 'x'.repeat(1000),
    });
    const prefix = 24 + 4 + 3;
    const parser = new BinaryParser(RESPONSES);
    parser.push(big.bytes.subarray(0, prefix - 1));
    assert.equal(parser.next(), null);
    assert.equal(parser.pendingValueBytes, 0, 'the key is not complete');
    parser.push(big.bytes.subarray(prefix - 1, prefix + 5000));
    assert.equal(parser.next(), null);
    assert.equal(parser.pendingValueBytes, value.length - 5000);
    parser.push(big.bytes.subarray(prefix + 5000));
    assert.deepEqual(plainResult(parser.next()), big.expect);
    assert.equal(parser.pendingValueBytes, 0);
    parser.push(small.bytes.subarray(0, 100));
    assert.equal(parser.next(), null);
    assert.equal(parser.pendingValueBytes, 0, 'a value below 64 KB is not announced');
  });

  it('returns views of a whole chunk without copying, and a fresh packet each time', () => {
    const a = req({ opcode: Opcode.GET, key: 'a' });
    const b = req({ opcode: Opcode.GET, key: 'b' });
    const chunk = Buffer.concat([a.bytes, b.bytes]);
    const parser = new BinaryParser(REQUESTS);
    parser.push(chunk);
    const first = plainResult(parser.next());
    const second = plainResult(parser.next());
    assert.ok(first !== null && !(first instanceof BinaryParseError));
    assert.ok(second !== null && !(second instanceof BinaryParseError));
    assert.notEqual(first, second);
    assert.equal(first.frame.buffer, chunk.buffer);
    assert.equal(first.key.byteOffset, chunk.byteOffset + 24);
    assert.equal(second.frame.byteOffset, chunk.byteOffset + a.bytes.length);
    assert.deepEqual(first, a.expect);
    assert.deepEqual(second, b.expect);
    assert.equal(parser.next(), null);
    assert.equal(parser.bufferedLength, 0);
  });

  it('ends a touch, gat or stat request after its key, as memcached reads it: the rest is the next request', () => {
    const noop = req({ opcode: Opcode.NOOP, opaque: 7 });
    for (const opcode of KEY_ONLY) {
      const extras = opcode === Opcode.STAT ? undefined : encodeExpirationExtras(0);
      const cut = req({ opcode, key: 'k', extras, opaque: 3 });
      // the header claims the NOOP as its value; the packet is the request without it
      const bytes = encodeRequest({ opcode, key: 'k', extras, value: noop.bytes, opaque: 3 });
      const expect = { ...cut.expect, frame: bytes.subarray(0, cut.bytes.length) };
      checkStream(
        [
          { bytes, expect },
          { bytes: Buffer.alloc(0), expect: noop.expect },
        ],
        REQUESTS,
      );
    }
    // a response with a value is whole, and so is a request that breaks the shape (its key is missing)
    checkStream([res({ opcode: Opcode.GAT, extras: encodeFlagsExtras(0), value: 'v' })], RESPONSES);
    checkStream([req({ opcode: Opcode.GAT, extras: encodeExpirationExtras(0), value: 'v' })], REQUESTS);
  });

  it('waits for a whole header, then for the whole frame', () => {
    const c = req({ opcode: Opcode.SET, key: 'k', extras: encodeSetExtras(0, 0), value: 'value' });
    const parser = new BinaryParser(REQUESTS);
    for (let i = 0; i < c.bytes.length - 1; i++) {
      parser.push(c.bytes.subarray(i, i + 1));
      assert.equal(parser.next(), null, `after ${i + 1} bytes`);
    }
    parser.push(c.bytes.subarray(-1));
    assert.deepEqual(plainResult(parser.next()), c.expect);
    assert.equal(parser.next(), null);
  });

  describe('bad magic', () => {
    it('rejects a response fed to the request parser, and the reverse', () => {
      const get = req({ opcode: Opcode.GET, key: 'k', opaque: 9 });
      const hit = res({ opcode: Opcode.GET, extras: encodeFlagsExtras(0), value: 'v', opaque: 9 });
      checkError(hit.bytes, REQUESTS, [], 'bad-magic', { opcode: Opcode.GET, opaque: 9 });
      checkError(get.bytes, RESPONSES, [], 'bad-magic', { opcode: Opcode.GET, opaque: 9 });
    });

    it('rejects garbage after good packets', () => {
      const good = [req({ opcode: Opcode.GET, key: 'k' }), req({ opcode: Opcode.NOOP })];
      const garbage = Buffer.from('get foo\r\nset bar 0 0 1\r\nx\r\n');
      checkError(Buffer.concat([...good.map((c) => c.bytes), garbage]), REQUESTS, good, 'bad-magic');
    });

    it('decides only once 24 bytes are in', () => {
      const parser = new BinaryParser(REQUESTS);
      parser.push(Buffer.alloc(23, 0x41));
      assert.equal(parser.next(), null);
      parser.push(Buffer.from([0x41]));
      const error = parser.next();
      assert.ok(error instanceof BinaryParseError);
      assert.equal(error.code, 'bad-magic');
      assert.equal(error.magic, 0x41);
    });

    it('stays dead, answering the same error', () => {
      const parser = new BinaryParser(RESPONSES);
      parser.push(encodeRequest({ opcode: Opcode.NOOP }));
      const error = parser.next();
      assert.ok(error instanceof BinaryParseError);
      parser.push(encodeResponse({ opcode: Opcode.NOOP }));
      assert.equal(parser.next(), error);
      assert.equal(parser.next(), error);
      assert.equal(parser.bufferedLength, 0);
    });
  });

  describe('key + extras longer than the body', () => {
    // Header claiming key 5, extras 0, body 3; memcached reads 24 + 5 bytes before it checks.
    const header = (keyLength: number, extrasLength: number, bodyLength: number) => {
      const b = encodeRequest({ opcode: Opcode.GET, opaque: 0x77 });
      b.writeUInt16BE(keyLength, 2);
      b.writeUInt8(extrasLength, 4);
      b.writeUInt32BE(bodyLength, 8);
      return b;
    };

    it('is an error once header, extras and key are all in', () => {
      const good = [req({ opcode: Opcode.NOOP, opaque: 1 })];
      const bad = Buffer.concat([header(5, 0, 3), Buffer.from('hello')]);
      checkError(Buffer.concat([good[0].bytes, bad]), REQUESTS, good, 'bad-lengths', {
        opcode: Opcode.GET,
        opaque: 0x77,
        keyLength: 5,
        extrasLength: 0,
        bodyLength: 3,
      });
      checkError(Buffer.concat([header(0, 8, 7), Buffer.alloc(8)]), REQUESTS, [], 'bad-lengths', {
        extrasLength: 8,
      });
      checkError(Buffer.concat([header(3, 2, 4), Buffer.alloc(5)]), REQUESTS, [], 'bad-lengths');
    });

    it('waits for the extras and key bytes before checking', () => {
      const input = Buffer.concat([header(10, 4, 2), Buffer.alloc(14, 0x61)]);
      for (const chunking of chunkings(input)) {
        const parser = new BinaryParser(REQUESTS);
        let fed = 0;
        for (const chunk of chunking.chunks) {
          parser.push(chunk);
          fed += chunk.length;
          const r = parser.next();
          if (fed < input.length) assert.equal(r, null, `${chunking.name} at ${fed}`);
          else assert.ok(r instanceof BinaryParseError && r.code === 'bad-lengths', chunking.name);
        }
      }
    });

    it('accepts key + extras equal to the body', () => {
      checkStream(
        [req({ opcode: Opcode.INCREMENT, key: 'n', extras: encodeArithExtras(1n, 0n, 0) })],
        REQUESTS,
      );
    });
  });

  describe('maxBodyLength', () => {
    const big = (n: number) =>
      req({
        opcode: Opcode.SET,
        key: 'big',
        extras: encodeSetExtras(0, 0),
        value: Buffer.alloc(n, 0x62),
        opaque: n,
      });

    it('returns the head of an oversized value, drops the value, then parses what follows', () => {
      const next = req({ opcode: Opcode.GET, key: 'after', opaque: 2 });
      checkStream([truncated(big(100)), next, truncated(big(11)), big(10), next], {
        ...REQUESTS,
        maxBodyLength: 10,
      });
    });

    it('compares the value length, not the body length, with the limit', () => {
      checkStream([big(10)], { ...REQUESTS, maxBodyLength: 10 });
      checkStream([truncated(big(1)), req({ opcode: Opcode.GET, key: 'k' })], {
        ...REQUESTS,
        maxBodyLength: 0,
      });
    });

    it('works for responses too', () => {
      const hit = res({
        opcode: Opcode.GETK,
        key: 'k',
        extras: encodeFlagsExtras(1),
        value: 'too long',
        cas: 3n,
      });
      checkStream([truncated(hit), res({ opcode: Opcode.NOOP })], { ...RESPONSES, maxBodyLength: 7 });
    });

    it('never buffers the dropped bytes', () => {
      const c = big(1000);
      const head = 24 + 8 + 3;
      const parser = new BinaryParser({ ...REQUESTS, maxBodyLength: 100 });
      parser.push(c.bytes.subarray(0, head));
      assert.deepEqual(plainResult(parser.next()), truncated(c).expect);
      assert.equal(parser.discardingLength, 1000);
      for (let at = head; at < c.bytes.length; at += 7) {
        parser.push(c.bytes.subarray(at, Math.min(at + 7, c.bytes.length)));
        assert.equal(parser.bufferedLength, 0);
      }
      assert.equal(parser.discardingLength, 0);
      assert.equal(parser.next(), null);
    });

    it('swallows a 4 GB body with bounded memory', () => {
      const head = encodeRequest({ opcode: Opcode.SET, key: 'huge', extras: encodeSetExtras(0, 0) });
      const valueLength = 0xffffffff - 12;
      head.writeUInt32BE(0xffffffff, 8);
      const parser = new BinaryParser({ ...REQUESTS, maxBodyLength: 1024 * 1024 });
      parser.push(head);
      const first = parser.next();
      assert.ok(first !== null && !(first instanceof BinaryParseError));
      assert.equal(first.valueTruncated, true);
      assert.equal(first.valueLength, valueLength);
      const mb = Buffer.alloc(1024 * 1024);
      let left = valueLength;
      while (left > mb.length) {
        parser.push(mb);
        left -= mb.length;
        assert.equal(parser.bufferedLength, 0);
      }
      const noop = req({ opcode: Opcode.NOOP, opaque: 5 });
      parser.push(Buffer.concat([mb.subarray(0, left), noop.bytes]));
      assert.deepEqual(plainResult(parser.next()), noop.expect);
      assert.equal(parser.next(), null);
    });
  });

  describe('swallow()', () => {
    it('drops the given bytes, held or still to come, before the next frame', () => {
      const a = req({ opcode: Opcode.GET, key: 'a' });
      const b = req({ opcode: Opcode.GET, key: 'b' });
      const input = Buffer.concat([a.bytes, Buffer.from('junk!'), b.bytes]);
      for (const chunking of chunkings(input)) {
        const parser = new BinaryParser(REQUESTS);
        const got: PlainPacket[] = [];
        for (const chunk of chunking.chunks) {
          parser.push(chunk);
          for (let r = parser.next(); r !== null; r = parser.next()) {
            assert.ok(!(r instanceof BinaryParseError), chunking.name);
            got.push(plainPacket(r));
            if (got.length === 1) parser.swallow(5);
          }
        }
        assert.deepEqual(got, [a.expect, b.expect], chunking.name);
      }
    });

    it('refuses to cut into a frame it has started', () => {
      const parser = new BinaryParser(REQUESTS);
      parser.push(encodeRequest({ opcode: Opcode.GET, key: 'abc' }).subarray(0, 25));
      assert.equal(parser.next(), null);
      assert.throws(() => {
        parser.swallow(1);
      });
    });
  });
});
