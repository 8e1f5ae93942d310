import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  TextRequestParser,
  isParseError,
  type TextRequest,
} from '../../../../src/protocol/ascii/request-parser.ts';
import {
  META_ERRORS,
  MetaFlags,
  metaSetLineError,
  parseMetaFlags,
} from '../../../../src/protocol/meta/flags.ts';
import { base64DecodeKey } from '../../../../src/protocol/meta/base64.ts';

function request(line: string): TextRequest {
  const parser = new TextRequestParser({ maxDataLength: 1024 });
  // the ms lines used here declare one byte of data
  const data = line.startsWith('ms ') ? 'x\r\n' : '';
  parser.push(Buffer.from(line + '\r\n' + data, 'latin1'));
  const r = parser.next();
  assert.ok(r !== null && !isParseError(r));
  return r;
}

function flagsOf(line: string, first = 2): { err: string | null; f: MetaFlags } {
  const f = new MetaFlags();
  const err = parseMetaFlags(request(line), first, f);
  return { err, f };
}

describe('meta flags', () => {
  it('reads return flags and numeric flags', () => {
    const { err, f } = flagsOf('mg k v c f T30 N5 R2 q u');
    assert.equal(err, null);
    assert.equal(f.value, true);
    assert.equal(f.exptime, 30);
    assert.equal(f.newTtl, true);
    assert.equal(f.vivify, true);
    assert.equal(f.vivifyExptime, 5);
    assert.equal(f.recacheTime, 2);
    assert.equal(f.noReply, true);
    assert.equal(f.noUpdate, true);
    assert.equal(f.locked, true);
  });

  it('answers memcached texts for duplicate and unknown flags', () => {
    assert.equal(flagsOf('mg k v v').err, META_ERRORS.duplicateFlag);
    assert.equal(flagsOf('mg k O1 O2').err, META_ERRORS.duplicateFlag);
    assert.equal(flagsOf('mg k zz').err, META_ERRORS.invalidFlag);
    assert.equal(flagsOf('mg k \xff').err, META_ERRORS.duplicateFlag);
  });

  it('keeps going after a bad value so that the last error text wins', () => {
    assert.equal(flagsOf('mg k Tx').err, META_ERRORS.badToken);
    assert.equal(flagsOf('ma k Tx Jy').err, META_ERRORS.badInitial);
    assert.equal(flagsOf('ms k 1 Fx', 3).err, META_ERRORS.badFormat);
    assert.equal(flagsOf('ms k 1 MEE', 3).err, META_ERRORS.mTokenLength);
  });

  it("gives an ms line's error before its value: flags, then the M mode, then an opaque too long", () => {
    const lineError = (line: string): string | null => metaSetLineError(request(line), new MetaFlags());
    assert.equal(lineError('ms k 1 F5 T9 MA O1'), null);
    assert.equal(lineError('ms k 1 q T9 q'), META_ERRORS.duplicateFlag);
    assert.equal(lineError('ms k 1 Tx MX'), META_ERRORS.badToken);
    assert.equal(lineError('ms k 1 MX O' + 'o'.repeat(40)), META_ERRORS.invalidMode);
    assert.equal(lineError('ms k 1 MS O' + 'o'.repeat(40)), META_ERRORS.opaqueTooLong);
    assert.equal(lineError('ms k 1 O' + 'o'.repeat(31)), null);
  });

  it('decodes base64 keys with b and fails on a malformed one', () => {
    const { err, f } = flagsOf('mg Zm9v b v');
    assert.equal(err, null);
    assert.equal(f.key.toString(), 'foo');
    assert.equal(f.keyBinary, true);
    assert.equal(flagsOf('mg Zm9 b').err, META_ERRORS.decodingKey);
  });
});

describe('base64 keys as memcached decodes them', () => {
  const dec = (s: string): string | null =>
    base64DecodeKey(Buffer.from(s), 0, s.length)?.toString('latin1') ?? null;
  it('decodes padded and unpadded quanta', () => {
    assert.equal(dec('Zm9v'), 'foo');
    assert.equal(dec('Zm8='), 'fo');
    assert.equal(dec('Zg=='), 'f');
  });
  it('fails on counts that are not a multiple of four and on bad padding', () => {
    assert.equal(dec('Zm9'), null);
    assert.equal(dec('Z==='), null);
    assert.equal(dec(''), null);
  });
  it('skips characters outside the alphabet', () => {
    assert.equal(dec('Zm!9v'), 'foo');
  });
  it('round-trips any key through Node base64', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
        const text = Buffer.from(bytes).toString('base64');
        assert.deepEqual(base64DecodeKey(Buffer.from(text), 0, text.length), Buffer.from(bytes));
      }),
    );
  });
});
