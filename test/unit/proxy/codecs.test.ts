import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  TextRequestParser,
  isParseError,
  type TextRequest,
} from '../../../src/protocol/ascii/request-parser.ts';
import { BinaryParser, type BinaryPacket } from '../../../src/protocol/binary/parser.ts';
import { encodeResponse } from '../../../src/protocol/binary/encoder.ts';
import { Opcode, Status } from '../../../src/protocol/binary/opcodes.ts';
import {
  a2bArith,
  a2bDelete,
  a2bStore,
  a2bTouch,
  binaryExptime,
  metaCodec,
  touchExpiresItem,
} from '../../../src/proxy/codecs.ts';
import { MORE_UNITS, type KeyedCodec } from '../../../src/proxy/keyed.ts';
import { TextResponseError, TextResponseParser } from '../../../src/protocol/ascii/response-parser.ts';
import type { Reply, ReplyWriter } from '../../../src/proxy/request.ts';
import { OutputQueue } from '../../../src/util/output-queue.ts';
import { MemcachedA2bErrors, MoxiA2bErrors } from '../../../src/protocol/wire-errors.ts';
import type { Socket } from 'node:net';

function request(input: string): TextRequest {
  const parser = new TextRequestParser({ maxDataLength: 1024 });
  parser.push(Buffer.from(input, 'latin1'));
  const req = parser.next();
  assert.ok(req !== null && !isParseError(req));
  return req;
}

function packetsOf(codec: KeyedCodec): BinaryPacket[] {
  const bytes = codec.encode(7, 3);
  const parser = new BinaryParser({ magic: 0x80 });
  for (const b of Buffer.isBuffer(bytes) ? [bytes] : bytes) parser.push(b);
  const out: BinaryPacket[] = [];
  for (let p = parser.next(); p !== null; p = parser.next()) {
    if (p instanceof Error) throw p;
    out.push(p);
  }
  return out;
}

function text(r: Reply): string {
  if (typeof r === 'string') return r;
  if (Array.isArray(r)) {
    const pieces = r as ReadonlyArray<Buffer | string>;
    return pieces.map((p) => (typeof p === 'string' ? p : p.toString('latin1'))).join('');
  }
  // a reply that writes itself: collect what it hands to a socket
  const out = new OutputQueue();
  (r as ReplyWriter).writeTo(out);
  out.commit();
  const written: Buffer[] = [];
  const socket = {
    write: (b: Buffer) => written.push(b) > 0,
    cork() {},
    uncork() {},
    writableNeedDrain: false,
  };
  out.flush(socket as unknown as Socket);
  return Buffer.concat(written).toString('latin1');
}

function reply(codec: KeyedCodec, opcode: number, status: number, value?: Buffer): string {
  const parser = new BinaryParser({ magic: 0x81 });
  parser.push(encodeResponse({ opcode, status, value }));
  const p = parser.next() as BinaryPacket;
  return text(codec.fromPacket!(p));
}

describe('a2b codecs (moxi-spec §6.3)', () => {
  it('sends SET with flags, exptime, the vbucket id and the value; quiet for noreply', () => {
    const [p] = packetsOf(a2bStore(request('set k 5 100 3\r\nabc\r\n'), 'set', false, MoxiA2bErrors));
    assert.equal(p.opcode, Opcode.SET);
    assert.equal(p.opaque, 7);
    assert.equal(p.vbucket, 3);
    assert.equal(p.extras.readUInt32BE(0), 5);
    assert.equal(p.extras.readUInt32BE(4), 100);
    assert.equal(p.value.toString(), 'abc');
    const [q] = packetsOf(a2bStore(request('add k 0 0 1 noreply\r\nx\r\n'), 'add', true, MoxiA2bErrors));
    assert.equal(q.opcode, Opcode.ADDQ);
  });

  it('turns a negative exptime into an already-expired absolute time', () => {
    assert.equal(binaryExptime(-1), 2592001);
    const [p] = packetsOf(a2bStore(request('set k 0 -1 1\r\nx\r\n'), 'set', false, MoxiA2bErrors));
    assert.equal(p.extras.readUInt32BE(4), 2592001);
  });

  it('knows which gat exptimes leave the item expired: negative, or absolute and not in the future', () => {
    const now = 1_800_000_000;
    for (const exptime of [-1, -2147483648, 2592001, 1_000_000_000, now]) {
      assert.equal(touchExpiresItem(exptime, now), true, String(exptime));
    }
    for (const exptime of [0, 1, 100, 2592000, now + 1, 2147483647]) {
      assert.equal(touchExpiresItem(exptime, now), false, String(exptime));
    }
  });

  it('maps store statuses per command', () => {
    const add = a2bStore(request('add k 0 0 1\r\nx\r\n'), 'add', false, MoxiA2bErrors);
    assert.equal(reply(add, Opcode.ADD, Status.KEY_EEXISTS), 'NOT_STORED\r\n');
    const cas = a2bStore(request('cas k 0 0 1 9\r\nx\r\n'), 'cas', false, MoxiA2bErrors);
    assert.equal(reply(cas, Opcode.SET, Status.KEY_EEXISTS), 'EXISTS\r\n');
    assert.equal(reply(cas, Opcode.SET, Status.KEY_ENOENT), 'NOT_FOUND\r\n');
    const rep = a2bStore(request('replace k 0 0 1\r\nx\r\n'), 'replace', false, MoxiA2bErrors);
    assert.equal(reply(rep, Opcode.REPLACE, Status.KEY_ENOENT), 'NOT_STORED\r\n');
    assert.equal(reply(rep, Opcode.REPLACE, Status.E2BIG), 'SERVER_ERROR a2b e2big\r\n');
  });

  it('maps incr/decr, delete and touch replies', () => {
    const incr = a2bArith(request('incr k 5\r\n'), true, 5n, false, MoxiA2bErrors);
    const eight = Buffer.alloc(8);
    eight.writeBigUInt64BE(18446744073709551615n);
    assert.equal(reply(incr, Opcode.INCREMENT, Status.SUCCESS, eight), '18446744073709551615\r\n');
    assert.equal(reply(incr, Opcode.INCREMENT, Status.DELTA_BADVAL), 'SERVER_ERROR a2b arith error\r\n');
    const [p] = packetsOf(incr);
    assert.equal(p.extras.readUInt32BE(16), 0xffffffff);
    const del = a2bDelete(request('delete k\r\n'), false);
    assert.equal(reply(del, Opcode.DELETE, Status.SUCCESS), 'DELETED\r\n');
    assert.equal(reply(del, Opcode.DELETE, Status.KEY_ENOENT), 'NOT_FOUND\r\n');
    const touch = a2bTouch(request('touch k 10\r\n'), 10, false, MoxiA2bErrors);
    assert.equal(reply(touch, Opcode.TOUCH, Status.SUCCESS), 'TOUCHED\r\n');
  });

  it("--memcached-errors: memcached's lines where memcached has one, moxi's for the rest", () => {
    const memcached = MemcachedA2bErrors;
    const set = a2bStore(request('set k 0 0 1\r\nx\r\n'), 'set', false, memcached);
    assert.equal(reply(set, Opcode.SET, Status.E2BIG), 'SERVER_ERROR object too large for cache\r\n');
    assert.equal(reply(set, Opcode.SET, Status.ENOMEM), 'SERVER_ERROR out of memory storing object\r\n');
    assert.equal(reply(set, Opcode.SET, Status.NOT_MY_VBUCKET), 'SERVER_ERROR a2b not_my_vbucket\r\n');
    const casZero = a2bStore(request('cas k 0 0 1 0\r\nx\r\n'), 'cas', false, memcached);
    assert.equal(reply(casZero, Opcode.DELETE, Status.EBUSY), 'SERVER_ERROR a2b ebusy\r\n');
    const decr = a2bArith(request('decr k 1\r\n'), false, 1n, false, memcached);
    assert.equal(
      reply(decr, Opcode.DECREMENT, Status.DELTA_BADVAL),
      'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n',
    );
    assert.equal(reply(decr, Opcode.DECREMENT, Status.ENOMEM), 'SERVER_ERROR out of memory\r\n');
    assert.equal(reply(decr, Opcode.DECREMENT, Status.EINTERNAL), 'SERVER_ERROR a2b arith error\r\n');
    const touch = a2bTouch(request('touch k 10\r\n'), 10, false, memcached);
    assert.equal(reply(touch, Opcode.TOUCH, Status.E2BIG), 'SERVER_ERROR object too large for cache\r\n');
    assert.equal(reply(touch, Opcode.TOUCH, Status.EINVAL), 'SERVER_ERROR a2b einval\r\n');
  });
});

describe('meta over text connections', () => {
  /** What the codec sends, and the client's reply to the server's `replies` (null: the reply never ended). */
  function exchange(line: string, replies: string): { sent: string; reply: string | null } {
    const codec = metaCodec(request(line), line.includes(' q'));
    const bytes = codec.encode(0, 0);
    const sent = Buffer.concat(Buffer.isBuffer(bytes) ? [bytes] : [...bytes]).toString('latin1');
    const parser = new TextResponseParser();
    parser.push(Buffer.from(replies, 'latin1'));
    for (let unit = parser.next(); unit !== null; unit = parser.next()) {
      assert.ok(!(unit instanceof TextResponseError));
      const r = codec.fromUnit!(unit);
      if (r !== MORE_UNITS) return { sent, reply: text(r) };
    }
    return { sent, reply: null };
  }

  it('sends a command as written and passes its reply through', () => {
    assert.deepEqual(exchange('mg key v k\r\n', 'VA 2 kkey\r\nhi\r\n'), {
      sent: 'mg key v k\r\n',
      reply: 'VA 2 kkey\r\nhi\r\n',
    });
    assert.deepEqual(exchange('ms key 2 T0\r\nhi\r\n', 'HD\r\n'), {
      sent: 'ms key 2 T0\r\nhi\r\n',
      reply: 'HD\r\n',
    });
  });

  it('follows a quiet command with mn: what the server sent before MN is the reply, if anything', () => {
    assert.deepEqual(exchange('mg key v q k\r\n', 'MN\r\n'), { sent: 'mg key v q k\r\nmn\r\n', reply: '' });
    assert.deepEqual(exchange('ma key q v N0 J3\r\n', 'VA 1\r\n3\r\nMN\r\n'), {
      sent: 'ma key q v N0 J3\r\nmn\r\n',
      reply: 'VA 1\r\n3\r\n',
    });
    assert.deepEqual(exchange('ms key 1 q\r\nx\r\n', 'NS\r\nMN\r\n'), {
      sent: 'ms key 1 q\r\nx\r\nmn\r\n',
      reply: 'NS\r\n',
    });
    assert.equal(exchange('md key q\r\n', 'HD\r\n').reply, null, 'the reply ends only with MN');
  });
});
