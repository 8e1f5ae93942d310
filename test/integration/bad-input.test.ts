/**
 * Bad input: the target must answer exactly what memcached 1.6.18 answers, and leave the connection
 * in the same state (open, or closed by the server). Every case is sent live to a real memcached and
 * to the target; memcached's own reply is also asserted against the string written here, so a
 * surprise in the reference shows up as such.
 *
 * For every case, a second client connected to the same server beforehand must see no stray bytes and
 * keep working; when the victim connection survives, a normal command on it must work too.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { targetKind } from '../helpers/processes.ts';
import {
  BinOp,
  RawClient,
  arithExtras,
  asciiExchange,
  binRequest,
  parseBinFrames,
  printable,
  storeExtras,
  u32Extras,
  type BinRequest,
} from '../helpers/raw-client.ts';
import {
  DualSession,
  Protos,
  assertSameOutcome,
  startPair,
  type Outcome,
  type Pair,
  type Proto,
} from './dual.ts';

const TARGET = targetKind();
const ITEM_MAX = '1m';
const DUMP = process.env['MOXI_TEST_DUMP'] === '1';

interface BadCase {
  readonly name: string;
  readonly proto: Proto;
  readonly send: string | Buffer;
  /** memcached's exact reply (text) or the binary response statuses in order. */
  readonly expect?: string | readonly number[];
  /** memcached closes the connection (default false). */
  readonly closes?: boolean;
  /** The reply is not followed by the sentinel's (connection left inside a data block or swallow). */
  readonly noSentinel?: boolean;
  /** Skip the follow-up command (the connection is still swallowing). */
  readonly noFollowUp?: boolean;
  /** Sent (and compared) on the same connection before the case, in its own exchange. */
  readonly setup?: string;
  /** Quiet period ending the read when the sentinel reply does not come (default 1000 ms). */
  readonly quietMs?: number;
  readonly timeoutMs?: number;
}

const A = Protos.ascii;
const B = Protos.binary;
const K251 = 'k'.repeat(251);
const CE = 'CLIENT_ERROR bad command line format\r\n';
const MB2 = 2 * 1024 * 1024;

function req(opcode: number, o: Omit<BinRequest, 'opcode'> = {}): Buffer {
  return binRequest({ opcode, ...o });
}
const noop = req(BinOp.noop, { opaque: 0x11 });

const St = {
  ok: 0x00,
  notFound: 0x01,
  exists: 0x02,
  tooLarge: 0x03,
  inval: 0x04,
  notStored: 0x05,
  nonNumeric: 0x06,
  unknown: 0x81,
} as const;

/** Every binary opcode that takes a key, with a 251-byte key and otherwise valid extras. */
function binaryKeyTooLong(): BadCase[] {
  const store = storeExtras(0, 0);
  const arith = arithExtras(1n, 0n, 0);
  const ttl = u32Extras(0);
  const ops: [string, number, Omit<BinRequest, 'opcode' | 'key'>][] = [
    ['GET', BinOp.get, {}],
    ['GETQ', BinOp.getq, {}],
    ['GETK', BinOp.getk, {}],
    ['GETKQ', BinOp.getkq, {}],
    ['SET', BinOp.set, { extras: store, value: 'v' }],
    ['SETQ', BinOp.setq, { extras: store, value: 'v' }],
    ['ADD', BinOp.add, { extras: store, value: 'v' }],
    ['ADDQ', BinOp.addq, { extras: store, value: 'v' }],
    ['REPLACE', BinOp.replace, { extras: store, value: 'v' }],
    ['REPLACEQ', BinOp.replaceq, { extras: store, value: 'v' }],
    ['DELETE', BinOp.delete, {}],
    ['DELETEQ', BinOp.deleteq, {}],
    ['INCREMENT', BinOp.increment, { extras: arith }],
    ['INCREMENTQ', BinOp.incrementq, { extras: arith }],
    ['DECREMENT', BinOp.decrement, { extras: arith }],
    ['DECREMENTQ', BinOp.decrementq, { extras: arith }],
    ['APPEND', BinOp.append, { value: 'v' }],
    ['APPENDQ', BinOp.appendq, { value: 'v' }],
    ['PREPEND', BinOp.prepend, { value: 'v' }],
    ['PREPENDQ', BinOp.prependq, { value: 'v' }],
    ['TOUCH', BinOp.touch, { extras: ttl }],
    ['GAT', BinOp.gat, { extras: ttl }],
    ['GATQ', BinOp.gatq, { extras: ttl }],
    ['GATK', BinOp.gatk, { extras: ttl }],
    ['GATKQ', BinOp.gatkq, { extras: ttl }],
  ];
  return ops.map(([name, opcode, rest]) => ({
    name: `bin ${name} with 251-byte key`,
    proto: B,
    send: req(opcode, { key: K251, opaque: 0x51, ...rest }),
    expect: [St.inval],
    closes: true,
  }));
}

// ---------------------------------------------------------------------------------------------

const keyTooLong: BadCase[] = [
  { name: 'get with 251-byte key', proto: A, send: `get ${K251}\r\n`, expect: CE },
  { name: 'gets with 251-byte key', proto: A, send: `gets ${K251}\r\n`, expect: CE },
  { name: 'gat with 251-byte key', proto: A, send: `gat 0 ${K251}\r\n`, expect: CE },
  { name: 'gats with 251-byte key', proto: A, send: `gats 0 ${K251}\r\n`, expect: CE },
  {
    name: 'multi-get with one 251-byte key among hits',
    proto: A,
    setup: 'set a 0 0 1\r\na\r\n',
    send: `get a ${K251} a\r\n`,
    expect: CE,
  },
  // memcached culls every reply not yet written when a get fails on a long key, including replies
  // to earlier commands of the same pipelined read (here STORED).
  {
    name: 'pipelined replies before a get with a 251-byte key are discarded',
    proto: A,
    send: `set a 0 0 1\r\na\r\nget a ${K251} a\r\n`,
    expect: CE,
  },
  { name: 'get with a 100 KB key', proto: A, send: `get ${'k'.repeat(100_000)}\r\n`, expect: CE },
  {
    name: 'set with 251-byte key (data line becomes a command)',
    proto: A,
    send: `set ${K251} 0 0 1\r\nx\r\n`,
    expect: CE + 'ERROR\r\n',
  },
  { name: 'add with 251-byte key', proto: A, send: `add ${K251} 0 0 1\r\nx\r\n`, expect: CE + 'ERROR\r\n' },
  {
    name: 'replace with 251-byte key',
    proto: A,
    send: `replace ${K251} 0 0 1\r\nx\r\n`,
    expect: CE + 'ERROR\r\n',
  },
  {
    name: 'append with 251-byte key',
    proto: A,
    send: `append ${K251} 0 0 1\r\nx\r\n`,
    expect: CE + 'ERROR\r\n',
  },
  {
    name: 'prepend with 251-byte key',
    proto: A,
    send: `prepend ${K251} 0 0 1\r\nx\r\n`,
    expect: CE + 'ERROR\r\n',
  },
  { name: 'cas with 251-byte key', proto: A, send: `cas ${K251} 0 0 1 1\r\nx\r\n`, expect: CE + 'ERROR\r\n' },
  {
    name: 'set with 251-byte key, noreply',
    proto: A,
    send: `set ${K251} 0 0 1 noreply\r\nx\r\n`,
    expect: 'ERROR\r\n',
  },
  { name: 'incr with 251-byte key', proto: A, send: `incr ${K251} 1\r\n`, expect: CE },
  { name: 'decr with 251-byte key', proto: A, send: `decr ${K251} 1\r\n`, expect: CE },
  { name: 'delete with 251-byte key', proto: A, send: `delete ${K251}\r\n`, expect: CE },
  { name: 'touch with 251-byte key', proto: A, send: `touch ${K251} 0\r\n`, expect: CE },
  { name: 'mg with 251-byte key', proto: A, send: `mg ${K251} v\r\n`, expect: CE },
  { name: 'ms with 251-byte key', proto: A, send: `ms ${K251} 1\r\nx\r\n`, expect: CE + 'ERROR\r\n' },
  { name: 'md with 251-byte key', proto: A, send: `md ${K251}\r\n`, expect: CE },
  { name: 'ma with 251-byte key', proto: A, send: `ma ${K251}\r\n`, expect: CE },
  { name: 'me with 251-byte key', proto: A, send: `me ${K251}\r\n`, expect: CE },
  {
    name: 'mg with undecodable base64 key',
    proto: A,
    send: 'mg !!!! b v\r\n',
    expect: 'CLIENT_ERROR error decoding key\r\n',
  },
  ...binaryKeyTooLong(),
];

const tooLarge: BadCase[] = [
  {
    name: 'set of 2 MB with the 1 MB limit, then a normal command',
    proto: A,
    send: `set big 0 0 ${MB2}\r\n${'x'.repeat(MB2)}\r\nget big\r\n`,
    expect: 'SERVER_ERROR object too large for cache\r\nEND\r\n',
    timeoutMs: 15_000,
  },
  {
    name: 'set over the limit replaces nothing but deletes the old value',
    proto: A,
    send: `set big 0 0 1\r\nx\r\nset big 0 0 1048577\r\n${'y'.repeat(1048577)}\r\nget big\r\n`,
    expect: 'STORED\r\nSERVER_ERROR object too large for cache\r\nEND\r\n',
  },
  {
    name: 'add/replace/append over the limit keep the old value',
    proto: A,
    send:
      `set big 0 0 1\r\nx\r\nreplace big 0 0 1048577\r\n${'y'.repeat(1048577)}\r\n` +
      `append big 0 0 1048577\r\n${'z'.repeat(1048577)}\r\nadd big 0 0 1048577\r\n${'w'.repeat(1048577)}\r\nget big\r\n`,
    expect:
      'STORED\r\nSERVER_ERROR object too large for cache\r\nSERVER_ERROR object too large for cache\r\n' +
      'SERVER_ERROR object too large for cache\r\nVALUE big 0 1\r\nx\r\nEND\r\n',
  },
  {
    name: 'append that grows a value past the limit',
    proto: A,
    send: `set big 0 0 1048000\r\n${'a'.repeat(1048000)}\r\nappend big 0 0 1000\r\n${'b'.repeat(1000)}\r\nmg big s\r\n`,
    expect: 'STORED\r\nNOT_STORED\r\nHD s1048000\r\n',
  },
  {
    name: 'ms of 2 MB, then a normal command',
    proto: A,
    send: `ms big ${MB2} T0\r\n${'x'.repeat(MB2)}\r\nmg big v\r\n`,
    expect: 'SERVER_ERROR object too large for cache\r\nEN\r\n',
    timeoutMs: 15_000,
  },
  {
    // The SERVER_ERROR is queued but only written once the whole announced value has been swallowed.
    name: 'set announcing 2147483645 bytes (no reply until swallowed; must not allocate)',
    proto: A,
    send: 'set big 0 0 2147483645\r\nabc',
    expect: '',
    noSentinel: true,
    noFollowUp: true,
  },
  {
    name: 'bin SET of 2 MB, then a normal command',
    proto: B,
    send: Buffer.concat([
      req(BinOp.set, { key: 'big', value: Buffer.alloc(MB2, 0x78), extras: storeExtras(0, 0), opaque: 1 }),
      req(BinOp.get, { key: 'big', opaque: 2 }),
    ]),
    expect: [St.tooLarge, St.notFound],
    timeoutMs: 15_000,
  },
  {
    name: 'bin SETQ of 2 MB reports the error',
    proto: B,
    send: req(BinOp.setq, { key: 'big', value: Buffer.alloc(MB2, 0x78), extras: storeExtras(0, 0) }),
    expect: [St.tooLarge],
    timeoutMs: 15_000,
  },
  {
    name: 'bin APPEND past the limit',
    proto: B,
    send: Buffer.concat([
      req(BinOp.set, {
        key: 'big',
        value: Buffer.alloc(1048000, 0x61),
        extras: storeExtras(0, 0),
        opaque: 1,
      }),
      req(BinOp.append, { key: 'big', value: Buffer.alloc(1000, 0x62), opaque: 2 }),
    ]),
  },
];

const badNumbers: BadCase[] = [
  { name: 'flags: letters', proto: A, send: 'set k abc 0 1\r\nx\r\n', expect: CE + 'ERROR\r\n' },
  { name: 'flags: negative', proto: A, send: 'set k -1 0 1\r\nx\r\n', expect: CE + 'ERROR\r\n' },
  // flags go through strtoul (64-bit) and are truncated to 32 bits; only a '-' or > 2^64-1 fails.
  {
    name: 'flags: 2^32 wraps to 0',
    proto: A,
    send: 'set k 4294967296 0 1\r\nx\r\nget k\r\n',
    expect: 'STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n',
  },
  {
    name: 'flags: 2^32+7 wraps to 7',
    proto: A,
    send: 'set k 4294967303 0 1\r\nx\r\nget k\r\n',
    expect: 'STORED\r\nVALUE k 7 1\r\nx\r\nEND\r\n',
  },
  { name: 'flags: -0', proto: A, send: 'set k -0 0 1\r\nx\r\nget k\r\n' },
  {
    name: 'flags: 2^64',
    proto: A,
    send: 'set k 18446744073709551616 0 1\r\nx\r\n',
    expect: CE + 'ERROR\r\n',
  },
  { name: 'flags: leading +', proto: A, send: 'set k +5 0 1\r\nx\r\nget k\r\n' },
  { name: 'flags: trailing junk', proto: A, send: 'set k 5x 0 1\r\nx\r\n', expect: CE + 'ERROR\r\n' },
  { name: 'exptime: letters', proto: A, send: 'set k 0 abc 1\r\nx\r\n', expect: CE + 'ERROR\r\n' },
  {
    name: 'exptime: negative is valid (expired)',
    proto: A,
    send: 'set k 0 -5 1\r\nx\r\nget k\r\n',
    expect: 'STORED\r\nEND\r\n',
  },
  // exptime and bytes go through strtol (64-bit) and are truncated to int32.
  {
    name: 'exptime: beyond 64 bits',
    proto: A,
    send: 'set k 0 99999999999999999999 1\r\nx\r\n',
    expect: CE + 'ERROR\r\n',
  },
  {
    name: 'exptime: 2^31 truncates to a negative int32',
    proto: A,
    send: 'set k 0 2147483648 1\r\nx\r\nget k\r\n',
    expect: 'STORED\r\nEND\r\n',
  },
  {
    name: 'exptime: 2^32+100 truncates to 100',
    proto: A,
    send: 'set k 0 4294967396 1\r\nx\r\nmg k v\r\n',
    expect: 'STORED\r\nVA 1\r\nx\r\n',
  },
  { name: 'exptime: leading +', proto: A, send: 'set k 0 +5 1\r\nx\r\nget k\r\n' },
  { name: 'exptime: trailing junk', proto: A, send: 'set k 0 5x 1\r\nx\r\n', expect: CE + 'ERROR\r\n' },
  { name: 'bytes: letters', proto: A, send: 'set k 0 0 abc\r\nx\r\n', expect: CE + 'ERROR\r\n' },
  { name: 'bytes: negative', proto: A, send: 'set k 0 0 -1\r\nx\r\n', expect: CE + 'ERROR\r\n' },
  { name: 'bytes: leading +', proto: A, send: 'set k 0 0 +1\r\nx\r\nget k\r\n' },
  { name: 'bytes: trailing junk', proto: A, send: 'set k 0 0 1x\r\nx\r\n', expect: CE + 'ERROR\r\n' },
  { name: 'bytes: 2^31', proto: A, send: 'set k 0 0 2147483648\r\nx\r\n', expect: CE + 'ERROR\r\n' },
  {
    name: 'bytes: 2^32+1 truncates to 1',
    proto: A,
    send: 'set k 0 0 4294967297\r\nx\r\nget k\r\n',
    expect: 'STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n',
  },
  {
    name: 'bytes: beyond 64 bits',
    proto: A,
    send: 'set k 0 0 99999999999999999999\r\nx\r\n',
    expect: CE + 'ERROR\r\n',
  },
  { name: 'bytes: INT_MAX', proto: A, send: 'set k 0 0 2147483647\r\nx\r\n', expect: CE + 'ERROR\r\n' },
  {
    name: 'delta: letters',
    proto: A,
    send: 'set n 0 0 1\r\n1\r\nincr n abc\r\n',
    expect: 'STORED\r\nCLIENT_ERROR invalid numeric delta argument\r\n',
  },
  {
    name: 'delta: negative',
    proto: A,
    send: 'set n 0 0 1\r\n1\r\ndecr n -1\r\n',
    expect: 'STORED\r\nCLIENT_ERROR invalid numeric delta argument\r\n',
  },
  {
    name: 'delta: 2^64',
    proto: A,
    send: 'set n 0 0 1\r\n1\r\nincr n 18446744073709551616\r\n',
    expect: 'STORED\r\nCLIENT_ERROR invalid numeric delta argument\r\n',
  },
  {
    name: 'delta: leading +',
    proto: A,
    send: 'set n 0 0 1\r\n1\r\nincr n +1\r\n',
    expect: 'STORED\r\n2\r\n',
  },
  {
    name: 'delta: trailing junk',
    proto: A,
    send: 'set n 0 0 1\r\n1\r\nincr n 1x\r\n',
    expect: 'STORED\r\nCLIENT_ERROR invalid numeric delta argument\r\n',
  },
  { name: 'delta: bad, noreply', proto: A, send: 'set n 0 0 1\r\n1\r\nincr n abc noreply\r\nget n\r\n' },
  { name: 'cas unique: letters', proto: A, send: 'cas k 0 0 1 abc\r\nx\r\n', expect: CE + 'ERROR\r\n' },
  { name: 'cas unique: negative', proto: A, send: 'cas k 0 0 1 -1\r\nx\r\n', expect: CE + 'ERROR\r\n' },
  {
    name: 'cas unique: 2^64',
    proto: A,
    send: 'cas k 0 0 1 18446744073709551616\r\nx\r\n',
    expect: CE + 'ERROR\r\n',
  },
  { name: 'cas unique: leading +', proto: A, send: 'cas k 0 0 1 +1\r\nx\r\n' },
  { name: 'cas unique: trailing junk', proto: A, send: 'cas k 0 0 1 1x\r\nx\r\n', expect: CE + 'ERROR\r\n' },
  {
    name: 'touch exptime: letters and overflow',
    proto: A,
    send: 'touch k abc\r\ntouch k 99999999999\r\ntouch k 1x\r\n',
  },
  {
    name: 'gat exptime: letters and overflow',
    proto: A,
    send: 'gat abc k\r\ngats 99999999999 k\r\ngat -\r\n',
  },
  {
    name: 'flush_all: junk arguments',
    proto: A,
    send: 'flush_all x\r\nflush_all 1x\r\nflush_all 99999999999\r\nflush_all -5\r\nflush_all 0 noreply junk\r\n',
  },
  {
    name: 'verbosity: junk arguments',
    proto: A,
    send: 'verbosity x\r\nverbosity -1\r\nverbosity 99999999999\r\nverbosity 1 2 3\r\nverbosity 0\r\n',
  },
  { name: 'meta numbers: ms length', proto: A, send: 'ms k abc\r\nms k -1\r\nms k +1\r\nx\r\nms k 1x\r\n' },
  {
    name: 'meta numbers: flags and ttl',
    proto: A,
    send: 'ms k 1 Fabc\r\nx\r\nms k 1 F-1\r\nx\r\nms k 1 F4294967296\r\nx\r\nms k 1 Tx\r\nx\r\nms k 1 T99999999999\r\nx\r\nmg k v\r\n',
  },
  {
    name: 'meta numbers: cas tokens',
    proto: A,
    send: 'ms k 1 C-1\r\nx\r\nms k 1 Cx\r\nx\r\nmd k C18446744073709551616\r\nma k Cx\r\nmg k v\r\n',
  },
  {
    name: 'meta numbers: ma delta and initial',
    proto: A,
    send: 'ma n N0 Dx\r\nma n N0 D-1\r\nma n N0 J-1\r\nma n N0 J18446744073709551616\r\nma n N0 D18446744073709551616\r\nmg n v\r\n',
  },
  { name: 'meta numbers: mg N, T, R', proto: A, send: 'mg k N1x v\r\nmg k Tx v\r\nmg k R-x v\r\nmg k v\r\n' },
];

const unknownAndMalformed: BadCase[] = [
  {
    name: 'unknown commands',
    proto: A,
    send: 'foo\r\nGET k\r\ngetx k\r\nsets k\r\nm\r\nmx k\r\nstatsx\r\nquitx\r\n',
  },
  {
    name: 'a NUL byte and control bytes in the command line',
    proto: A,
    send: 'get\x00 k\r\n\x01\x02\r\nget k\x00\r\n',
  },
  {
    name: 'data block longer than announced',
    proto: A,
    send: 'set k 0 0 3\r\nabcdef\r\nget k\r\n',
    expect: 'CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n',
  },
  { name: 'data block shorter than announced', proto: A, send: 'set k 0 0 5\r\nab\r\n', noSentinel: true },
  { name: 'data block ended by LF only', proto: A, send: 'set k 0 0 3\r\nabc\nget k\r\n' },
  { name: 'data block with CR but no LF', proto: A, send: 'set k 0 0 3\r\nabc\rXget k\r\n' },
  { name: 'ms data block longer than announced', proto: A, send: 'ms k 2\r\nabcd\r\nmg k v\r\n' },
  { name: 'noreply set with bad data chunk still errors', proto: A, send: 'set k 0 0 1 noreply\r\nab\r\n' },
  { name: 'ms q with bad data chunk still errors', proto: A, send: 'ms k 1 q\r\nab\r\n' },
  {
    name: 'line ending in HTTP/1.1 closes',
    proto: A,
    send: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
    expect: '',
    closes: true,
  },
  {
    name: 'any unknown line ending in HTTP/1.0 closes',
    proto: A,
    send: 'foo bar HTTP/1.0\r\n',
    expect: '',
    closes: true,
  },
  {
    name: 'known command line ending in HTTP/ is served',
    proto: A,
    send: 'get / HTTP/1.1\r\n',
    expect: 'END\r\n',
  },
  // Closing drops the unsent replies of the same pipelined read, too.
  {
    name: 'HTTP line after good commands',
    proto: A,
    send: 'set k 0 0 1\r\nx\r\nPOST /x HTTP/1.1\r\nget k\r\n',
    expect: '',
    closes: true,
  },
  {
    name: '2 MB line without newline closes',
    proto: A,
    send: 'x'.repeat(MB2),
    expect: '',
    closes: true,
    noSentinel: true,
    timeoutMs: 15_000,
  },
  {
    name: '2 MB set line without newline closes',
    proto: A,
    send: 'set ' + 'k'.repeat(MB2),
    expect: '',
    closes: true,
    noSentinel: true,
    timeoutMs: 15_000,
  },
  {
    name: '3000-byte line sent at once is still parsed',
    proto: A,
    send: `set ${'k'.repeat(3000)} 0 0 1\r\nx\r\n`,
    expect: CE + 'ERROR\r\n',
  },
  {
    name: '2 MB get line of many keys',
    proto: A,
    send: `set k1 0 0 1\r\na\r\nget ${'k1234567 '.repeat(233_000)}k1\r\n`,
    expect: 'STORED\r\nVALUE k1 0 1\r\na\r\nEND\r\n',
    quietMs: 5000,
    timeoutMs: 15_000,
  },
  {
    name: '2 MB gets line of one key',
    proto: A,
    send: `gets ${'k'.repeat(MB2)}\r\n`,
    expect: CE,
    timeoutMs: 15_000,
  },
  {
    name: 'meta: duplicate flags',
    proto: A,
    send: 'mg k v v\r\nms k 1 T1 T2\r\nx\r\nmd k q q\r\nma k v v\r\n',
  },
  {
    name: 'meta: invalid flags',
    proto: A,
    send: 'mg k !\r\nmg k E\r\nms k 1 z\r\nx\r\nmd k v\r\nma k s\r\n',
  },
  {
    name: 'meta: too many tokens',
    proto: A,
    send: `mg k ${'v f s t c k h l O1 q u '.repeat(3)}\r\nms k 1 ${'T0 '.repeat(25)}\r\nx\r\nmd k ${'q '.repeat(30)}\r\nma k ${'v '.repeat(30)}\r\n`,
  },
  {
    name: 'meta: bad M modes',
    proto: A,
    send: 'ms k 1 MZ\r\nx\r\nms k 1 M\r\nx\r\nms k 1 MSS\r\nx\r\nma k MZ\r\nma k M\r\nma k MII\r\n',
  },
  {
    name: 'meta: opaque too long',
    proto: A,
    send: `mg k O${'x'.repeat(33)}\r\nms k 1 O${'x'.repeat(33)}\r\nx\r\nmd k O${'x'.repeat(33)}\r\nma k O${'x'.repeat(33)}\r\nmn\r\n`,
  },
  { name: 'meta: missing tokens', proto: A, send: 'ms k\r\nms\r\nmg\r\nme\r\nmn extra tokens\r\n' },
  {
    name: 'bin bad magic after a good packet closes',
    proto: B,
    send: Buffer.concat([noop, req(BinOp.noop, { magic: 0x81 })]),
    expect: [St.ok],
    closes: true,
  },
  {
    name: 'bin bad magic 0x00 in the middle of a pipeline',
    proto: B,
    send: Buffer.concat([req(BinOp.version), req(BinOp.noop, { magic: 0x00 }), noop]),
    closes: true,
  },
  {
    name: 'first byte 0x81 makes a text connection',
    proto: A,
    send: Buffer.concat([req(BinOp.noop, { magic: 0x81 }), Buffer.from('\r\n')]),
  },
  {
    name: 'bin keylen + extlen > bodylen closes',
    proto: B,
    send: req(BinOp.get, { key: 'abcde', bodylen: 3 }),
    expect: [St.unknown],
    closes: true,
  },
  {
    name: 'bin extlen > bodylen closes',
    proto: B,
    send: req(BinOp.set, { key: 'k', value: 'v', extras: storeExtras(0, 0), bodylen: 8 }),
    expect: [St.unknown],
    closes: true,
  },
  {
    name: 'bin SET without extras closes',
    proto: B,
    send: req(BinOp.set, { key: 'k', value: 'v' }),
    expect: [St.inval],
    closes: true,
  },
  {
    name: 'bin GET with extras closes',
    proto: B,
    send: req(BinOp.get, { key: 'k', extras: u32Extras(0) }),
    expect: [St.inval],
    closes: true,
  },
  { name: 'bin GET without key closes', proto: B, send: req(BinOp.get), expect: [St.inval], closes: true },
  {
    name: 'bin INCR with short extras closes',
    proto: B,
    send: req(BinOp.increment, { key: 'k', extras: Buffer.alloc(8) }),
    expect: [St.inval],
    closes: true,
  },
  {
    name: 'bin NOOP with a body closes',
    proto: B,
    send: req(BinOp.noop, { value: 'x' }),
    expect: [St.inval],
    closes: true,
  },
  {
    name: 'bin VERSION with a key closes',
    proto: B,
    send: req(BinOp.version, { key: 'k' }),
    expect: [St.inval],
    closes: true,
  },
  {
    name: 'bin FLUSH with 8-byte extras closes',
    proto: B,
    send: req(BinOp.flush, { extras: Buffer.alloc(8) }),
    expect: [St.inval],
    closes: true,
  },
  {
    name: 'bin TOUCH without extras closes',
    proto: B,
    send: req(BinOp.touch, { key: 'k' }),
    expect: [St.inval],
    closes: true,
  },
  {
    name: 'bin QUIT with a body closes',
    proto: B,
    send: req(BinOp.quit, { value: 'x' }),
    expect: [St.inval],
    closes: true,
  },
  {
    name: 'bin DELETE with extras closes',
    proto: B,
    send: req(BinOp.delete, { key: 'k', extras: u32Extras(0) }),
    expect: [St.inval],
    closes: true,
  },
  {
    name: 'bin STAT with extras closes',
    proto: B,
    send: req(BinOp.stat, { extras: u32Extras(0) }),
    expect: [St.inval],
    closes: true,
  },
  {
    name: 'bin APPEND with extras closes',
    proto: B,
    send: req(BinOp.append, { key: 'k', value: 'v', extras: u32Extras(0) }),
    expect: [St.inval],
    closes: true,
  },
  {
    name: 'bin incr on non-numeric',
    proto: B,
    send: Buffer.concat([
      req(BinOp.set, { key: 'n', value: 'abc', extras: storeExtras(0, 0) }),
      req(BinOp.increment, { key: 'n', extras: arithExtras(1n, 0n, 0) }),
    ]),
    expect: [St.ok, St.nonNumeric],
  },
  {
    name: 'bin unknown opcode with a body',
    proto: B,
    send: Buffer.concat([req(0x55, { value: 'abcdefgh', opaque: 1 }), noop]),
    expect: [St.unknown, St.ok],
  },
  // memcached reads no value after the key of a touch, a gat or a stat, whatever the body length says:
  // the bytes past the key are the next request
  ...(
    [
      ['TOUCH', BinOp.touch],
      ['GAT', BinOp.gat],
      ['GATK', BinOp.gatk],
    ] as const
  ).map(([name, opcode]) => ({
    name: `bin ${name} with a request past its key: both answered`,
    proto: B,
    send: req(opcode, { key: 'k', extras: u32Extras(0), value: noop, opaque: 2 }),
    expect: [St.notFound, St.ok],
  })),
  {
    name: 'bin STAT with a request past its key: both answered',
    proto: B,
    send: req(BinOp.stat, { key: 'nosuch', value: noop, opaque: 2 }),
    expect: [St.notFound, St.ok],
  },
  {
    name: 'bin GATQ with bytes past its key that are no request: closed after the quiet miss',
    proto: B,
    send: req(BinOp.gatq, { key: 'k', extras: u32Extras(0), value: 'xyz', opaque: 2 }),
    expect: [],
    closes: true,
  },
];

// ---------------------------------------------------------------------------------------------

function statuses(o: Outcome): number[] {
  return parseBinFrames(o.raw).frames.map((f) => f.status);
}

const OBSERVER_CHECK = 'set observer 0 0 2\r\nok\r\nget observer\r\n';
const OBSERVER_REPLY = 'STORED\r\nVALUE observer 0 2\r\nok\r\nEND\r\n';

describe(`bad input: ${TARGET} answers and closes like memcached 1.6.18`, () => {
  let pair: Pair;
  before(async () => {
    pair = await startPair({ memoryMb: 64, maxItemSize: ITEM_MAX });
  });
  after(async () => {
    await pair.stop();
  });

  async function runCase(c: BadCase): Promise<void> {
    // Observers connect before the bad input arrives and must be unaffected by it.
    const observers = await Promise.all(
      [pair.ref, pair.target].map((s) => RawClient.connect(s.port, s.host)),
    );
    const session = await DualSession.open(pair, c.proto);
    try {
      if (c.setup !== undefined) {
        const s = await session.step({ send: c.setup });
        assertSameOutcome(`${c.name} (setup)`, s.ref, s.target, TARGET);
      }
      const { ref, target } = await session.step({
        send: c.send,
        sentinel: true,
        quietMs: c.quietMs ?? (c.noSentinel === true ? 300 : 1000),
        timeoutMs: c.timeoutMs ?? 5000,
      });
      if (DUMP) process.stdout.write(`\n### ${c.name}\n<<< ${ref.text}${ref.closed ? '<closed>\n' : ''}`);
      assertSameOutcome(c.name, ref, target, TARGET);
      assert.equal(
        ref.closed,
        c.closes ?? false,
        `memcached ${ref.closed ? 'closed' : 'kept'} the connection`,
      );
      if (c.noSentinel !== true && !ref.closed) {
        assert.ok(ref.sentinelSeen, 'memcached answered the sentinel after the case');
      }
      if (typeof c.expect === 'string') {
        assert.equal(printable(ref.raw), printable(Buffer.from(c.expect, 'latin1')), "memcached's reply");
      } else if (c.expect !== undefined) {
        assert.deepEqual(statuses(ref), c.expect, "memcached's response statuses");
      }

      if (!ref.closed && c.noFollowUp !== true) {
        const followUp =
          c.proto === A
            ? { send: 'set after 0 0 2\r\nhi\r\nget after\r\n' }
            : {
                send: Buffer.concat([
                  req(BinOp.set, { key: 'after', value: 'hi', extras: storeExtras(0, 0), opaque: 7 }),
                  req(BinOp.getk, { key: 'after', opaque: 8 }),
                ]),
              };
        const next = await session.step(followUp);
        assertSameOutcome(
          `${c.name} (follow-up command on the same connection)`,
          next.ref,
          next.target,
          TARGET,
        );
      }

      for (const [i, obs] of observers.entries()) {
        const who = i === 0 ? 'memcached' : TARGET;
        assert.equal(obs.pending, 0, `${who}: the observer connection received stray bytes`);
        assert.ok(!obs.closed, `${who}: the observer connection was closed`);
        const r = await asciiExchange(obs, OBSERVER_CHECK);
        assert.equal(
          r.data.toString('latin1'),
          OBSERVER_REPLY,
          `${who}: the observer connection still works`,
        );
      }
    } finally {
      await session.close();
      await Promise.all(observers.map((o) => o.close()));
    }
  }

  for (const [title, cases] of [
    ['keys longer than 250 bytes', keyTooLong],
    ['values over the item size limit', tooLarge],
    ['bad numbers', badNumbers],
    ['unknown commands, malformed lines, packets and meta flags', unknownAndMalformed],
  ] as const) {
    describe(title, () => {
      for (const c of cases) it(c.name, () => runCase(c));
    });
  }
});
