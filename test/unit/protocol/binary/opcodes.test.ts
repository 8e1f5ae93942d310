// Opcode, status and error-text tables against memcached 1.6.18's protocol_binary.h / proto_bin.c and the
// membase opcodes in libmemcached 1.1.4's binary.h; the quiet/loud pairing is dispatch_bin_command's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_ERROR_TEXT,
  defaultErrorText,
  isQuiet,
  loudOf,
  Magic,
  OPCODE_INFO,
  Opcode,
  opcodeInfo,
  opcodeName,
  quietOf,
  Status,
  statusName,
  type OpcodeName,
} from '../../../../src/protocol/binary/opcodes.ts';

const QUIET_PAIRS: readonly (readonly [OpcodeName, OpcodeName])[] = [
  ['GET', 'GETQ'],
  ['GETK', 'GETKQ'],
  ['SET', 'SETQ'],
  ['ADD', 'ADDQ'],
  ['REPLACE', 'REPLACEQ'],
  ['DELETE', 'DELETEQ'],
  ['INCREMENT', 'INCREMENTQ'],
  ['DECREMENT', 'DECREMENTQ'],
  ['QUIT', 'QUITQ'],
  ['FLUSH', 'FLUSHQ'],
  ['APPEND', 'APPENDQ'],
  ['PREPEND', 'PREPENDQ'],
  ['GAT', 'GATQ'],
  ['GATK', 'GATKQ'],
];

describe('binary opcodes', () => {
  it('has the wire values of memcached and membase', () => {
    assert.deepEqual(Magic, { Request: 0x80, Response: 0x81 });
    const expected: Record<OpcodeName, number> = {
      GET: 0x00,
      SET: 0x01,
      ADD: 0x02,
      REPLACE: 0x03,
      DELETE: 0x04,
      INCREMENT: 0x05,
      DECREMENT: 0x06,
      QUIT: 0x07,
      FLUSH: 0x08,
      GETQ: 0x09,
      NOOP: 0x0a,
      VERSION: 0x0b,
      GETK: 0x0c,
      GETKQ: 0x0d,
      APPEND: 0x0e,
      PREPEND: 0x0f,
      STAT: 0x10,
      SETQ: 0x11,
      ADDQ: 0x12,
      REPLACEQ: 0x13,
      DELETEQ: 0x14,
      INCREMENTQ: 0x15,
      DECREMENTQ: 0x16,
      QUITQ: 0x17,
      FLUSHQ: 0x18,
      APPENDQ: 0x19,
      PREPENDQ: 0x1a,
      TOUCH: 0x1c,
      GAT: 0x1d,
      GATQ: 0x1e,
      SASL_LIST_MECHS: 0x20,
      SASL_AUTH: 0x21,
      SASL_STEP: 0x22,
      GATK: 0x23,
      GATKQ: 0x24,
      SET_VBUCKET: 0x3d,
      GET_VBUCKET: 0x3e,
      DEL_VBUCKET: 0x3f,
      SELECT_BUCKET: 0x89,
      GETL: 0x94,
      UNL: 0x95,
    };
    assert.deepEqual({ ...Opcode }, expected);
  });

  it('has the status codes', () => {
    assert.deepEqual(
      { ...Status },
      {
        SUCCESS: 0,
        KEY_ENOENT: 1,
        KEY_EEXISTS: 2,
        E2BIG: 3,
        EINVAL: 4,
        NOT_STORED: 5,
        DELTA_BADVAL: 6,
        NOT_MY_VBUCKET: 7,
        AUTH_ERROR: 0x20,
        AUTH_CONTINUE: 0x21,
        UNKNOWN_COMMAND: 0x81,
        ENOMEM: 0x82,
        NOT_SUPPORTED: 0x83,
        EINTERNAL: 0x84,
        EBUSY: 0x85,
        ETMPFAIL: 0x86,
      },
    );
    assert.equal(statusName(Status.NOT_MY_VBUCKET), 'NOT_MY_VBUCKET');
    assert.equal(statusName(0x42), '0x42');
  });

  it("has write_bin_error's exact default texts", () => {
    assert.deepEqual(
      { ...DEFAULT_ERROR_TEXT },
      {
        1: 'Not found',
        2: 'Data exists for key.',
        3: 'Too large.',
        4: 'Invalid arguments',
        5: 'Not stored.',
        6: 'Non-numeric server-side value for incr or decr',
        0x20: 'Auth failure.',
        0x81: 'Unknown command',
        0x82: 'Out of memory',
      },
    );
    assert.equal(defaultErrorText(Status.KEY_EEXISTS), 'Data exists for key.');
    assert.equal(defaultErrorText(Status.SUCCESS), undefined);
    assert.equal(defaultErrorText(Status.EBUSY), undefined);
    assert.equal(defaultErrorText(0x1234), undefined);
  });

  it('pairs every quiet opcode with its loud one', () => {
    const quietOnes = new Set<number>();
    for (const [loudName, quietName] of QUIET_PAIRS) {
      const loud = Opcode[loudName];
      const quiet = Opcode[quietName];
      quietOnes.add(quiet);
      assert.equal(isQuiet(quiet), true, quietName);
      assert.equal(isQuiet(loud), false, loudName);
      assert.equal(loudOf(quiet), loud, quietName);
      assert.equal(loudOf(loud), loud, loudName);
      assert.equal(quietOf(loud), quiet, loudName);
      assert.equal(quietOf(quiet), quiet, quietName);
    }
    for (let op = 0; op < 256; op++) assert.equal(isQuiet(op), quietOnes.has(op), opcodeName(op));
  });

  it('answers for opcodes without a quiet variant and for unknown ones', () => {
    for (const op of [
      Opcode.NOOP,
      Opcode.VERSION,
      Opcode.STAT,
      Opcode.TOUCH,
      Opcode.GETL,
      Opcode.SASL_AUTH,
    ]) {
      assert.equal(quietOf(op), undefined);
      assert.equal(loudOf(op), op);
    }
    // VERBOSITY (0x1b) is not answered by memcached 1.6's binary protocol, so it is not in the table.
    for (const op of [0x1b, 0x40, 0xff, 300]) {
      assert.equal(opcodeInfo(op), undefined);
      assert.equal(isQuiet(op), false);
      assert.equal(loudOf(op), op);
      assert.equal(quietOf(op), undefined);
    }
    assert.equal(opcodeName(0x1b), 'UNKNOWN_0x1b');
    assert.equal(opcodeName(0x00), 'GET');
    assert.equal(opcodeName(Opcode.GATKQ), 'GATKQ');
  });

  it('describes every opcode in the table, under its own name', () => {
    const names = Object.keys(Opcode) as OpcodeName[];
    for (const name of names) {
      const info = OPCODE_INFO[Opcode[name]];
      assert.ok(info, name);
      assert.equal(info.name, name);
      assert.equal(info.opcode, Opcode[name]);
      assert.equal(opcodeName(Opcode[name]), name);
    }
    assert.equal(OPCODE_INFO.filter((i) => i !== undefined).length, names.length);
  });

  it("records dispatch_bin_command's key and extras rules", () => {
    const rule = (name: OpcodeName) => {
      const info = opcodeInfo(Opcode[name])!;
      return [info.key, info.requestExtras];
    };
    assert.deepEqual(rule('SET'), ['required', 8]);
    assert.deepEqual(rule('ADDQ'), ['required', 8]);
    assert.deepEqual(rule('INCREMENTQ'), ['required', 20]);
    assert.deepEqual(rule('GETKQ'), ['required', 0]);
    assert.deepEqual(rule('TOUCH'), ['required', 4]);
    assert.deepEqual(rule('GATQ'), ['required', 4]);
    assert.deepEqual(rule('FLUSH'), ['none', null]);
    assert.deepEqual(rule('NOOP'), ['none', 0]);
    assert.deepEqual(rule('STAT'), ['optional', 0]);
    assert.deepEqual(rule('APPENDQ'), ['required', 0]);
    assert.deepEqual(rule('SASL_AUTH'), ['required', 0]);
    assert.deepEqual(rule('GETL'), ['required', null]);
    assert.deepEqual(rule('GET_VBUCKET'), ['none', 0]);
  });
});
