/**
 * Properties of the text reply codec: whatever sequence of replies the encoders write parses back to the
 * same units under any chunking; a prefix of a stream yields a prefix of its units and never an error;
 * and arbitrary bytes never make the parser throw, with the same outcome however they are split.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chunkings } from '../helpers/chunking.ts';
import {
  metaLine,
  numberReply,
  statLine,
  TextReply,
  textLine,
  vaHeader,
  valueHeader,
  versionReply,
  type MetaStatus,
} from '../../src/protocol/ascii/response-encoder.ts';
import {
  TextResponseError,
  TextResponseParser,
  type TextResponse,
} from '../../src/protocol/ascii/response-parser.ts';

/** What a unit must look like, built from the generator's model rather than from the bytes. */
interface Expected {
  kind: string;
  key?: Buffer;
  flags?: number;
  bytes?: number;
  cas?: bigint | null;
  number?: bigint;
  tokens?: Buffer[];
  data: Buffer | null;
}

interface Reply {
  wire: Buffer[];
  expected: Expected;
}

/** VALUE units that arrived whole but came without their `block` view. */
let blocksMissing = 0;

function seen(u: TextResponse): Expected {
  switch (u.kind) {
    case 'VALUE':
      // the block, when there is one, is the unit's exact bytes; keyEquals agrees with key
      if (u.block === null) blocksMissing++;
      else assert.deepEqual(u.block, Buffer.concat([u.line, TextReply.CRLF, u.data, TextReply.CRLF]));
      // the block's bounds name the same bytes without a view
      if (u.block === null) assert.equal(u.blockSource, null);
      else assert.deepEqual(u.blockSource?.subarray(u.blockStart, u.blockEnd), u.block);
      assert.equal(u.keyEquals(u.key), true);
      assert.equal(u.keyEquals(Buffer.concat([u.key, Buffer.from('x')])), false);
      return { kind: u.kind, key: u.key, flags: u.flags, bytes: u.bytes, cas: u.cas, data: u.data };
    case 'VA':
      return { kind: u.kind, bytes: u.bytes, tokens: [...u.tokens], data: u.data };
    case 'NUMBER':
      return { kind: u.kind, number: u.number, data: null };
    case 'STAT':
    case 'ITEM':
    case 'HD':
    case 'NF':
    case 'NS':
    case 'EX':
    case 'EN':
    case 'MN':
    case 'ME':
      return { kind: u.kind, tokens: [...u.tokens], data: null };
    default:
      return { kind: u.kind, data: null };
  }
}

type Outcome = Expected | string;

/**
 * Feeds chunks one by one, draining after each; an error ends the run as its code. With `reuse` every
 * VALUE unit is one object the parser refills (as the proxy's connections run it).
 */
function run(chunks: readonly Buffer[], reuse = false): { units: Outcome[]; partial: boolean } {
  const parser = new TextResponseParser({ reuseValueUnits: reuse });
  const units: Outcome[] = [];
  for (const chunk of chunks) {
    parser.push(chunk);
    for (let r = parser.next(); r !== null; r = parser.next()) {
      if (r instanceof TextResponseError) {
        units.push(r.code);
        return { units, partial: false };
      }
      units.push(seen(r));
    }
  }
  return { units, partial: parser.partial };
}

function split(input: Buffer, cuts: readonly number[]): Buffer[] {
  if (input.length === 0) return [];
  const points = [...new Set(cuts.map((c) => c % input.length))].filter((p) => p > 0).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(input.subarray(prev, p));
    prev = p;
  }
  out.push(input.subarray(prev));
  return out;
}

// Bytes that can appear inside a word: no space, no line end.
const wordByte = fc.integer({ min: 0x21, max: 0xff });
const word = fc
  .uint8Array({ minLength: 1, maxLength: 12 })
  .map((a) => Buffer.from(a.map((b) => 0x21 + (b % 0xdf))));
const key = fc.array(wordByte, { minLength: 1, maxLength: 250 }).map((a) => Buffer.from(a));
const u64 = fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn });
// Data blocks full of "\r\n" and line-like bytes, sometimes large.
const data = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  fc.array(fc.constantFrom(0x0d, 0x0a, 0x20, 0x45, 0x4e, 0x44), { maxLength: 64 }).map((a) => Buffer.from(a)),
  fc.integer({ min: 0, max: 70000 }).map((n) => Buffer.alloc(n, 0x0a)),
);
// Printable text with spaces for error messages; must not start a NUMBER or known word by accident.
const text = fc
  .array(fc.integer({ min: 0x20, max: 0x7e }), { maxLength: 40 })
  .map((a) => Buffer.from(a).toString('latin1'));

const fixedKinds = [
  'STORED',
  'NOT_STORED',
  'EXISTS',
  'NOT_FOUND',
  'DELETED',
  'TOUCHED',
  'OK',
  'RESET',
  'END',
  'ERROR',
] as const;
const metaStatuses: readonly MetaStatus[] = ['HD', 'NF', 'NS', 'EX', 'EN', 'MN', 'ME'];

const reply: fc.Arbitrary<Reply> = fc.oneof(
  fc.constantFrom(...fixedKinds).map((kind) => ({ wire: [TextReply[kind]], expected: { kind, data: null } })),
  fc
    .record({
      key,
      flags: fc.integer({ min: 0, max: 0xffff_ffff }),
      cas: fc.option(fc.oneof(u64, fc.nat())),
      data,
    })
    .map(({ key, flags, cas, data }) => ({
      wire: [valueHeader(key, flags, data.length, cas), data, TextReply.CRLF],
      expected: {
        kind: 'VALUE',
        key,
        flags,
        bytes: data.length,
        cas: cas === null ? null : BigInt(cas),
        data,
      },
    })),
  u64.map((n) => ({ wire: [numberReply(n)], expected: { kind: 'NUMBER', number: n, data: null } })),
  fc.tuple(word, fc.array(word, { minLength: 1, maxLength: 3 })).map(([name, value]) => ({
    wire: [statLine(name, Buffer.concat(value.flatMap((v, i) => (i === 0 ? [v] : [Buffer.from(' '), v]))))],
    expected: { kind: 'STAT', tokens: [name, ...value], data: null },
  })),
  fc.array(word, { maxLength: 3 }).map((version) => ({
    wire: [versionReply(Buffer.concat(version).toString('latin1'))],
    expected: { kind: 'VERSION', data: null },
  })),
  fc.tuple(fc.constantFrom('CLIENT_ERROR', 'SERVER_ERROR'), text).map(([kind, message]) => ({
    wire: [textLine(`${kind} ${message}`)],
    expected: { kind, data: null },
  })),
  fc.tuple(fc.constantFrom(...metaStatuses), fc.array(word, { maxLength: 6 })).map(([status, tokens]) => ({
    wire: [metaLine(status, tokens)],
    expected: { kind: status, tokens, data: null },
  })),
  fc.tuple(fc.array(word, { maxLength: 6 }), data).map(([tokens, data]) => ({
    wire: [vaHeader(data.length, tokens), data, TextReply.CRLF],
    expected: { kind: 'VA', bytes: data.length, tokens, data },
  })),
  // Lines a proxy has never heard of: moxi's LOCK_ERROR, stats detail PREFIX, lowercase words.
  fc.tuple(fc.constantFrom('LOCK_ERROR', 'PREFIX', 'x', 'BUSY', 'end'), text).map(([first, rest]) => ({
    wire: [textLine(`${first} ${rest}`)],
    expected: { kind: 'OTHER', data: null },
  })),
);

describe('text response codec properties', () => {
  it('encoder-produced replies parse back to the same units under any chunking', () => {
    fc.assert(
      fc.property(
        fc.array(reply, { maxLength: 25 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (replies, cuts) => {
          const input = Buffer.concat(replies.flatMap((r) => r.wire));
          const expected = replies.map((r) => r.expected);
          blocksMissing = 0;
          const whole = run([input]);
          assert.deepEqual(whole.units, expected);
          assert.equal(whole.partial, false);
          assert.equal(blocksMissing, 0, 'a stream in one chunk gives every VALUE its block');
          const pieces = run(split(input, cuts));
          assert.deepEqual(pieces.units, expected);
          assert.equal(pieces.partial, false);
          // one VALUE object refilled line after line: the same units, and the same blocks
          blocksMissing = 0;
          assert.deepEqual(run([input], true).units, expected);
          assert.equal(blocksMissing, 0);
          assert.deepEqual(run(split(input, cuts), true).units, expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the standard chunkings (whole, byte by byte, seeded splits) agree on a mixed stream', () => {
    fc.assert(
      fc.property(fc.array(reply, { minLength: 1, maxLength: 8 }), (replies) => {
        const input = Buffer.concat(replies.flatMap((r) => r.wire));
        if (input.length > 4096) return;
        const expected = replies.map((r) => r.expected);
        for (const { name, chunks } of chunkings(input, 4))
          assert.deepEqual(run(chunks).units, expected, name);
      }),
      { numRuns: 60 },
    );
  });

  it('a prefix of a valid stream yields a prefix of its units and no error', () => {
    fc.assert(
      fc.property(fc.array(reply, { minLength: 1, maxLength: 10 }), fc.nat(), (replies, cut) => {
        const input = Buffer.concat(replies.flatMap((r) => r.wire));
        const expected = replies.map((r) => r.expected);
        const prefix = input.subarray(0, cut % (input.length + 1));
        const got = run([prefix]).units;
        assert.deepEqual(got, expected.slice(0, got.length));
      }),
      { numRuns: 300 },
    );
  });

  it('arbitrary bytes never throw and give the same outcome however they are split', () => {
    const fragment = fc.oneof(
      fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a)),
      fc
        .constantFrom(
          '\r\n',
          '\n',
          '\r',
          ' ',
          'VALUE k 0 3',
          'VALUE k 1 2 3',
          'VA 2 t',
          'VA 0',
          'END',
          'STAT a b',
          'HD c1',
          '18446744073709551615',
          'VALUE',
          'VALUE k 4294967296 1',
          'VA x',
        )
        .map((s) => Buffer.from(s, 'latin1')),
    );
    fc.assert(
      fc.property(
        fc.array(fragment, { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (parts, cuts) => {
          const input = Buffer.concat(parts);
          const whole = run([input]);
          const pieces = run(split(input, cuts));
          assert.deepEqual(pieces, whole);
        },
      ),
      { numRuns: 500 },
    );
  });
});
