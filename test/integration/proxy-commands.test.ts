/**
 * Every ASCII command through moxi.ts, with an ASCII (a2a) and a binary (a2b) downstream, to a pool of
 * three real memcacheds, compared byte for byte with ONE real memcached given the same bytes (only cas
 * values, VERSION text and STAT lines are normalised; see dual.ts). Because keys are spread over three
 * servers, this checks that multi-key gets are split per server and merged back in the client's key
 * order (as memcached answers), duplicates answered per occurrence, noreply, meta commands routed by
 * key with `mn` answered after the replies before it, and that malformed input is answered like
 * memcached without closing the connection. Each case runs sent whole and cut at random points.
 *
 * Then what a single memcached cannot show: the a2b reply mapping where it differs from memcached,
 * `stats` broadcast and merged (spec §6.7, with "smallest" really keeping the smallest), `stats reset`
 * and `flush_all` reaching every server, and `version` / `verbosity` / `mn` / `quit` answered locally
 * while every server is stopped (SIGSTOP). A seeded random phase (MOXI_TEST_SEED) ends each mode.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KetamaRouter } from '../../src/routing/ketama.ts';
import { SeededRandom } from '../helpers/random.ts';
import { pauseServer, resumeServer, startMemcached, type ServerHandle } from '../helpers/processes.ts';
import {
  BinOp,
  RawClient,
  binRequest,
  binaryExchange,
  parseBinFrames,
  printable,
} from '../helpers/raw-client.ts';
import {
  DETERMINISTIC_MEMCACHED_ARGS,
  DualSession,
  Protos,
  assertSameBatch,
  flushBoth,
  runDualCase,
  type DualCase,
  type Pair,
  type Vars,
} from './dual.ts';
import { randomBinaryPhase } from './random-ops.ts';
import {
  DownstreamProtocols,
  behaviorsFor,
  countReplies,
  describeExchange,
  directGetMany,
  hostList,
  parseStats,
  parseValues,
  pathName,
  pollUntil,
  requestOnce,
  retrievalDone,
  startProxy,
  statsDone,
  timedRequest,
  type DownstreamProtocol,
  type ProxyHandle,
} from '../helpers/proxy.ts';

const A = Protos.ascii;

const longKey250 = 'K'.repeat(250);
const oddKey = 'odd\x01\x7f\x80\xff\tkey';
const manyKeys = Array.from({ length: 30 }, (_, i) => `m${i}`);

const cases: DualCase[] = [
  // storage and retrieval
  { name: 'set then get', steps: ['set k 0 0 5\r\nhello\r\nget k\r\n'] },
  { name: 'get miss', steps: ['get nothere\r\n'] },
  { name: 'gets returns cas', steps: ['set k 3 0 2\r\nab\r\ngets k\r\n'] },
  {
    name: 'flags 0, 1, 65536, 4294967295',
    steps: [
      'set a 0 0 1\r\n1\r\nset b 1 0 1\r\n2\r\nset c 65536 0 1\r\n3\r\nset d 4294967295 0 1\r\n4\r\nget a b c d\r\n',
    ],
  },
  { name: 'empty value', steps: ['set k 0 0 0\r\n\r\nget k\r\ngets k\r\n'] },
  { name: 'value containing CRLF', steps: ['set k 0 0 8\r\na\r\nb\r\n\r\n\r\nget k\r\n'] },
  { name: 'binary-ish value bytes', steps: ['set k 0 0 6\r\n\x00\x01\xff\r\x0a\x80\r\nget k\r\n'] },
  { name: 'key of 250 bytes', steps: [`set ${longKey250} 0 0 1\r\nx\r\nget ${longKey250}\r\n`] },
  { name: 'key with odd bytes', steps: [`set ${oddKey} 5 0 2\r\nhi\r\nget ${oddKey}\r\ngets ${oddKey}\r\n`] },
  {
    name: 'multi-get across servers: client key order, misses, duplicates',
    steps: [
      'set a 0 0 1\r\nA\r\nset b 0 0 1\r\nB\r\nset c 0 0 1\r\nC\r\nset d 0 0 1\r\nD\r\nset e 0 0 1\r\nE\r\nset f 0 0 1\r\nF\r\n' +
        'get f zz a e b zz d c a a f\r\ngets c a zz b\r\n',
    ],
  },
  {
    name: 'multi-get of 30 keys and gets in reverse order',
    steps: [
      manyKeys.map((k, i) => `set ${k} ${i} 0 ${String(i).length}\r\n${i}\r\n`).join('') +
        `get ${manyKeys.join(' ')}\r\ngets ${[...manyKeys].reverse().join(' ')}\r\n`,
    ],
  },
  { name: 'multi-get where every key misses', steps: ['get x1 x2 x3 x4 x5 x6 x7 x8\r\n'] },
  { name: 'add: new then existing', steps: ['add k 0 0 1\r\na\r\nadd k 0 0 1\r\nb\r\nget k\r\n'] },
  {
    name: 'replace: missing then existing',
    steps: ['replace k 0 0 1\r\na\r\nset k 0 0 1\r\nb\r\nreplace k 7 0 1\r\nc\r\nget k\r\n'],
  },
  {
    name: 'append and prepend',
    steps: [
      'append k 0 0 1\r\nx\r\nprepend k 0 0 1\r\nx\r\nset k 9 0 3\r\nmid\r\nappend k 1 0 4\r\n-end\r\nprepend k 2 0 6\r\nstart-\r\ngets k\r\n',
    ],
  },
  {
    name: 'append to empty value, prepend empty',
    steps: ['set k 0 0 0\r\n\r\nappend k 0 0 2\r\nab\r\nprepend k 0 0 0\r\n\r\nget k\r\n'],
  },
  {
    name: 'noreply storage commands',
    steps: [
      'set k 0 0 1 noreply\r\na\r\nadd k 0 0 1 noreply\r\nb\r\nadd n 0 0 1 noreply\r\nn\r\nreplace k 0 0 1 noreply\r\nc\r\nreplace zz 0 0 1 noreply\r\nz\r\nappend k 0 0 1 noreply\r\nd\r\nprepend k 0 0 1 noreply\r\ne\r\nget k n zz\r\n',
    ],
  },
  {
    name: 'noreply everywhere, then one reply that must be the right one',
    steps: [
      'set a 0 0 1 noreply\r\n1\r\nset b 0 0 1 noreply\r\n2\r\nincr a 5 noreply\r\ndelete b noreply\r\ntouch a 100 noreply\r\nflush_all 0 noreply\r\nset c 0 0 1 noreply\r\n3\r\nget a b c\r\n',
    ],
  },
  {
    name: 'cas: success, mismatch, not found',
    steps: [
      'set k 0 0 1\r\na\r\ngets k\r\n',
      'cas k 0 0 1 {cas:k}\r\nb\r\ncas k 0 0 1 {cas:k}\r\nc\r\ncas nothere 0 0 1 1\r\nd\r\nget k\r\n',
    ],
  },
  {
    name: 'cas noreply',
    steps: [
      'set k 0 0 1\r\na\r\ngets k\r\n',
      'cas k 0 0 1 {cas:k} noreply\r\nb\r\ncas k 0 0 1 {cas:k} noreply\r\nc\r\ncas zz 0 0 1 5 noreply\r\nd\r\nget k\r\n',
    ],
  },
  {
    name: 'cas with unique 0 never stores',
    steps: ['set k 0 0 1\r\na\r\ncas k 0 0 1 0\r\nb\r\ncas nothere 0 0 1 0\r\nc\r\nget k nothere\r\n'],
  },
  {
    name: 'cas with a value change in between',
    steps: ['set k 0 0 1\r\na\r\ngets k\r\n', 'append k 0 0 1\r\nb\r\ncas k 0 0 1 {cas:k}\r\nc\r\nget k\r\n'],
  },
  // arithmetic
  {
    name: 'incr and decr basics',
    steps: [
      'incr nothere 1\r\ndecr nothere 1\r\nset n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 3\r\ndecr n 100\r\nget n\r\n',
    ],
  },
  {
    name: 'incr growing length',
    steps: ['set n 5 0 1\r\n9\r\nincr n 1\r\nget n\r\nincr n 99990\r\ngets n\r\n'],
  },
  {
    name: 'incr 64-bit wrap',
    steps: [
      'set n 0 0 19\r\n9223372036854775807\r\nincr n 9223372036854775809\r\nget n\r\nset m 0 0 1\r\n6\r\nincr m 18446744073709551615\r\nget m\r\n',
    ],
  },
  {
    name: 'incr/decr noreply',
    steps: ['set n 0 0 1\r\n5\r\nincr n 5 noreply\r\ndecr n 2 noreply\r\nincr zz 1 noreply\r\nget n\r\n'],
  },
  // delete, touch, gat
  { name: 'delete', steps: ['set k 0 0 1\r\na\r\ndelete k\r\ndelete k\r\nget k\r\n'] },
  {
    name: 'delete noreply and the legacy time argument',
    steps: [
      'set k 0 0 1\r\na\r\nset j 0 0 1\r\nb\r\ndelete k noreply\r\ndelete j 0\r\ndelete x 1\r\nget k j\r\n',
    ],
  },
  {
    name: 'touch answers TOUCHED',
    steps: [
      'touch k 0\r\nset k 0 0 1\r\na\r\ntouch k 100\r\ntouch k 0 noreply\r\ntouch zz 0 noreply\r\ntouch k abc\r\nget k\r\n',
    ],
  },
  {
    name: 'gat and gats',
    steps: [
      'set k 4 0 2\r\nhi\r\ngat 100 k\r\ngats 0 k\r\ngat 0 zz\r\ngats 0 k zz k\r\ngat abc k\r\ngat 1\r\n',
    ],
  },
  {
    name: 'gat across servers in the client key order',
    steps: [
      'set a 1 0 1\r\nA\r\nset b 2 0 1\r\nB\r\nset c 3 0 1\r\nC\r\nset d 4 0 1\r\nD\r\nset e 5 0 1\r\nE\r\n' +
        'gat 100 e a zz c b d a\r\ngats 0 d c b a\r\n',
    ],
  },
  {
    // memcached touches and returns the item for the first occurrence; a repeat finds it expired
    name: 'gat that expires the item answers a repeated key once',
    steps: [
      'set a 1 0 1\r\nA\r\nset b 2 0 1\r\nB\r\ngat -1 a b a zz b a\r\nget a b\r\n',
      'set a 1 0 1\r\nA\r\nset b 2 0 1\r\nB\r\ngats 1000000000 b a b\r\nget a b\r\n',
      'set a 1 0 1\r\nA\r\nset b 2 0 1\r\nB\r\ngat 0 a b a\r\ngats 100 b a b\r\n',
    ],
  },
  {
    name: 'negative and past exptimes expire at once',
    steps: [
      'set a 0 -1 1\r\na\r\nset b 0 1000000000 1\r\nb\r\nset c 0 0 1\r\nc\r\ntouch c -1\r\nset d 0 0 1\r\nd\r\ngat -1 d\r\nget a b c d\r\nadd a 0 0 1\r\nA\r\nget a\r\n',
    ],
  },
  {
    name: 'exptime of 30 days is relative',
    steps: ['set k 0 2592000 1\r\nx\r\nset j 0 2592001 1\r\ny\r\nget k j\r\n'],
  },
  // broadcast and local commands (bodies normalised)
  {
    name: 'flush_all variants',
    steps: [
      'set k 0 0 1\r\na\r\nflush_all\r\nget k\r\nset k 0 0 1\r\nb\r\nflush_all 0\r\nget k\r\nflush_all noreply\r\nflush_all 0 noreply\r\nflush_all abc\r\n',
    ],
  },
  {
    name: 'verbosity',
    steps: ['verbosity 1\r\nverbosity 0\r\nverbosity 0 noreply\r\nverbosity\r\nverbosity a b c\r\n'],
  },
  { name: 'version', steps: ['version\r\n'] },
  { name: 'stats and stats reset (bodies not compared)', steps: ['stats\r\n', 'stats reset\r\n'] },
  { name: 'quit closes the connection', steps: ['set k 0 0 1\r\na\r\nquit\r\nget k\r\n'] },
  { name: 'quit with extra tokens', steps: ['quit now\r\n'] },
  // malformed input: memcached's answers, connection kept
  { name: 'unknown commands', steps: ['bogus\r\nGET k\r\nSet k 0 0 1\r\ng\r\nx\r\nmz k\r\n'] },
  { name: 'empty and whitespace lines', steps: ['\r\n \r\n\n  \n'] },
  { name: 'bare LF line endings', steps: ['set k 0 0 1\na\r\nget k\nget k\r\n'] },
  { name: 'extra spaces between tokens', steps: ['set  k   0 0  1 \r\na\r\n  get   k  \r\nget k \r\n'] },
  {
    name: 'wrong token counts',
    steps: [
      'set k 0 0\r\nset k 0 0 1 noreply extra\r\nget\r\ngets\r\nincr k\r\ndecr\r\ntouch k\r\ndelete\r\ncas k 0 0 1\r\n',
    ],
  },
  {
    name: 'bad numbers in storage commands',
    steps: ['set k abc 0 1\r\nx\r\nset k 0 0 abc\r\nx\r\nset k 0 0 -1\r\nset k 0 abc 1\r\nx\r\nget k\r\n'],
  },
  { name: 'bad data chunk', steps: ['set k 0 0 1\r\nxyz\r\nget k\r\n', 'set k 0 0 2\r\nab\r\nget k\r\n'] },
  {
    // one command per step: memcached's handling of several such lines in one read depends on its reads
    name: 'keys longer than 250 bytes',
    steps: [
      `set ${'L'.repeat(251)} 0 0 1\r\nx\r\n`,
      `get ${'L'.repeat(251)}\r\n`,
      `get a ${'L'.repeat(300)} b\r\n`,
      'get a\r\n',
    ],
  },
  {
    name: 'bad arguments: incr delta, delete usage, touch and gat exptime, flush_all',
    steps: [
      'set n 0 0 1\r\n1\r\nincr n abc\r\nincr n -1\r\nincr n 18446744073709551616\r\ndelete n 1\r\ntouch n abc\r\ngat abc n\r\nflush_all abc\r\nget n\r\n',
    ],
  },
  {
    name: 'meta command errors',
    steps: ['mg\r\nms k\r\nms k abc\r\nmg k zz\r\nma k N\r\nme\r\nmd\r\nmn extra\r\n'],
  },
  {
    // memcached reads every flag before it answers, so the duplicate wins over an earlier bad value
    name: 'meta flags given twice, q among them',
    steps: ['mg k q v q\r\nmg k q72079 F q L\r\nmg k q-1 qD J Pxx\r\nmd k q q\r\nma k qq q\r\nmn\r\n'],
  },
  {
    // memcached knows a flag by its first byte, so "b0" base64-decodes the key as "b" does
    name: 'base64 keys with a b flag written b0',
    steps: [
      'ms YWxwaGE= 2 b0\r\nhi\r\nms YmV0YQ== 2 b0\r\nhi\r\nms Z2FtbWE= 2 b0\r\nhi\r\nms ZGVsdGE= 2 b0\r\nhi\r\nms ZXBz 2 b0\r\nhi\r\nms emV0YQ== 2 b0\r\nhi\r\nget alpha beta gamma delta eps zeta\r\n',
    ],
  },
  {
    // what q leaves out is memcached's choice: an ma's success, with its value too, unless N made the item
    name: 'quiet ma with a value, and with N',
    steps: [
      'set n 0 0 1\r\n5\r\nma n q v\r\nma n q\r\nma n v\r\nma zz q v N0 J3\r\nma zz q v\r\nmg zz q v\r\nmn\r\n',
    ],
  },
  {
    // memcached looks at an ms line's flags, M mode and opaque before its value
    name: 'ms refused over its value: a bad flag, mode or opaque is the error',
    steps: [
      'ms k 4 f a\r\nzzzzz\r\nms k 5 E C8\r\nzzzzzz\r\nms k 2 CI v\r\nzzz\r\nms k 1 MX\r\nzz\r\n',
      `ms k 1 O${'o'.repeat(40)}\r\nzz\r\nms k 1 q q\r\nzz\r\nms k 1 T1\r\nzz\r\nmg k v\r\n`,
    ],
  },
  // mixed pipelines and sizes
  {
    name: 'pipelined batch with local commands in the middle',
    steps: [
      'set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\nget a b\r\nincr a 9\r\nversion\r\nappend b 0 0 1\r\n2\r\ndelete a\r\nget a b\r\nmn\r\nverbosity 0\r\nadd b 0 0 1\r\nx\r\ngets b\r\n',
    ],
  },
  {
    name: '100 pipelined sets then one multi-get of all',
    steps: [
      Array.from({ length: 100 }, (_, i) => `set p${i} ${i} 0 ${String(i * 7).length}\r\n${i * 7}\r\n`).join(
        '',
      ) + `get ${Array.from({ length: 100 }, (_, i) => `p${99 - i}`).join(' ')}\r\n`,
    ],
  },
  {
    name: 'value of 500 KB, fetched twice in one get',
    steps: [`set big 0 0 512000\r\n${'v'.repeat(512000)}\r\nget big big\r\n`],
  },
  // meta commands
  { name: 'mn alone', steps: ['mn\r\n'] },
  { name: 'ms then mg without flags', steps: ['ms k 2\r\nhi\r\nmg k\r\nmg zz\r\n'] },
  {
    name: 'mg value, flags, size, key, opaque',
    steps: ['ms k 5 F42\r\nhello\r\nmg k v\r\nmg k f s k v\r\nmg k Oabc123 v k\r\nmg k s f\r\n'],
  },
  { name: 'mg c returns cas', steps: ['ms k 1 c\r\na\r\nmg k c\r\nmg k c v\r\n'] },
  { name: 'mg miss with k and O', steps: ['mg nothere k Oxyz v\r\nmg nothere Oq1 k\r\n'] },
  {
    name: 'quiet meta commands across servers, mn answered after them',
    steps: [
      'ms a 1 q\r\n1\r\nms b 1 q\r\n2\r\nms c 1 q\r\n3\r\nmg zz1 v q\r\nmg a v q\r\nmg zz2 v q k\r\nmg b v q\r\nmg c q\r\nmd zz3 q\r\nmd c q\r\nmg c v\r\nmn\r\nmg a v k\r\nmn\r\n',
    ],
  },
  {
    name: 'ms modes',
    steps: [
      'ms k 1 ME\r\na\r\nms k 1 ME\r\nb\r\nms k 1 MA\r\nc\r\nms k 1 MP\r\nd\r\nms k 1 MR\r\ne\r\nms zz 1 MR\r\nz\r\nms zz 1 MA\r\nz\r\nms k 2 MS\r\nff\r\nmg k v\r\nmg zz v\r\n',
    ],
  },
  {
    name: 'ms with C compare',
    steps: [
      'ms k 1 c\r\na\r\n',
      'ms k 1 C{cas} c\r\nb\r\nms k 1 C{cas}\r\nc\r\nms zz 1 C5\r\nz\r\nmg k v\r\n',
    ],
  },
  {
    name: 'ms quiet, opaque, key, T, F',
    steps: ['ms k 2 q\r\nhi\r\nms k 2 q ME\r\nho\r\nms k 2 O77 k T0 F5\r\nyo\r\nmg k v f k\r\nmn\r\n'],
  },
  {
    name: 'md variants',
    steps: [
      'md zz\r\nmd zz q\r\nms k 1\r\na\r\nmd k q\r\nmg k v\r\nms k 1\r\na\r\nmd k O9 k\r\nmd k O9 k\r\nmn\r\n',
    ],
  },
  {
    name: 'ma basics',
    steps: [
      'ma zz\r\nma zz q\r\nms n 1\r\n5\r\nma n\r\nma n v\r\nma n D10 v\r\nma n MD D3 v\r\nma n M- v\r\nmg n v\r\n',
    ],
  },
  { name: 'ma on a non-numeric value', steps: ['ms n 1\r\nx\r\nma n\r\nma n v\r\n'] },
  {
    name: 'base64 keys are routed by the decoded key (get finds what ms b stored)',
    steps: ['ms Zm9v 3 b\r\nbar\r\nmg Zm9v b v k\r\nget foo\r\nset foo 0 0 3\r\nbaz\r\nmg Zm9v b v\r\n'],
  },
  { name: 'me on a miss', steps: ['me nothere\r\n'] },
  { name: 'me on a hit', steps: ['set k 0 0 1\r\na\r\nme k\r\n'], timeSensitive: true },
  {
    name: 'classic and meta interleaved across servers',
    steps: [
      'set a 0 0 1\r\n1\r\nms b 1\r\n2\r\nmg a v\r\nget b a\r\nma a v\r\nincr a 1\r\nmg a v k\r\ndelete b\r\nmg b v\r\nmn\r\nget a b\r\n',
    ],
  },
];

// ---------------------------------------------------------------------------------------------
// Seeded random operations over a small key space (values and counters kept apart so that no
// arithmetic ever meets a non-numeric value: a2b answers that differently from memcached)

const VAL_KEYS = Array.from({ length: 12 }, (_, i) => `v${i}`);
const NUM_KEYS = Array.from({ length: 4 }, (_, i) => `n${i}`);

function randomValue(r: SeededRandom): string {
  const len = r.pick([0, 1, 3, 10, 100, 3000]);
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(97 + r.int(0, 25));
  return s;
}

/**
 * Meta flags of any kind, valid or not, repeated or not, with odd values: the server's flag errors and
 * quiet handling must come through the proxy as memcached gives them. Left out: h, l and t (their
 * answers depend on time) and T, N and R with a short time (an item may or may not have expired).
 */
const META_FLAGS = 'bcfkOqsvENRTIMJDPLSCFuxa'.split('');
const META_VALUES = ['', '0', '1', '5', '-1', 'abc', 'E', 'A', 'S', 'I', '+', '99999999999', 'x'.repeat(40)];

function randomMetaFlags(r: SeededRandom): string {
  let out = '';
  for (let i = r.int(0, 5); i > 0; i--) {
    const f = r.pick(META_FLAGS);
    const value = 'TNR'.includes(f) ? r.pick(['', '0', '-1', 'abc', '999999']) : r.pick(META_VALUES);
    out += ' ' + f + (r.bool(0.5) ? value : '');
  }
  return out;
}

/**
 * One random command. `fetched` holds the counters a retrieval earlier in the same batch asked for:
 * memcached holds such an item until that reply is sent, and incr, decr or ma then makes a new item
 * ("99") instead of rewriting the old one in place, space padded ("99 "). When that happens depends on
 * TCP read boundaries, and the proxy's servers see different ones, so arithmetic takes a counter no
 * retrieval of its batch asked for (or the command is a version).
 */
function randomOp(r: SeededRandom, fetched: Set<string>): string {
  const vk = (): string => r.pick(VAL_KEYS);
  const nk = (): string => {
    const k = r.pick(NUM_KEYS);
    fetched.add(k);
    return k;
  };
  /** A counter for arithmetic, or null when every counter was fetched in this batch. */
  const counter = (): string | null => {
    const free = NUM_KEYS.filter((k) => !fetched.has(k));
    return free.length === 0 ? null : r.pick(free);
  };
  const arith = (line: (k: string) => string): string => {
    const k = counter();
    return k === null ? 'version\r\n' : line(k);
  };
  const nr = (): string => (r.bool(0.15) ? ' noreply' : '');
  const keys = (n: number): string => Array.from({ length: n }, () => (r.bool(0.8) ? vk() : nk())).join(' ');
  switch (r.int(0, 25)) {
    case 22:
    case 23:
    case 24:
    case 25: {
      // meta commands with random flags; anything that may write a value goes to a value key, ma to a
      // counter (its N makes a number)
      const flags = randomMetaFlags(r);
      const v = randomValue(r).slice(0, 20);
      switch (r.int(0, 3)) {
        case 0:
          return `mg ${vk()}${flags}\r\n`;
        case 1:
          return `ms ${vk()} ${v.length}${flags}\r\n${v}\r\n`;
        case 2:
          return `md ${vk()}${flags}\r\n`;
        default:
          return arith((k) => `ma ${k}${flags}\r\n`);
      }
    }
    case 0:
    case 1: {
      const v = randomValue(r);
      return `${r.pick(['set', 'add', 'replace'])} ${vk()} ${r.int(0, 70000)} 0 ${v.length}${nr()}\r\n${v}\r\n`;
    }
    case 2: {
      const v = randomValue(r);
      return `${r.pick(['append', 'prepend'])} ${vk()} 0 0 ${v.length}${nr()}\r\n${v}\r\n`;
    }
    case 3: {
      const k = vk();
      return `cas ${k} 1 0 2 {cas:${k}}${nr()}\r\ncc\r\n`;
    }
    case 4: {
      const v = String(r.int(0, 100000));
      return `set ${r.pick(NUM_KEYS)} 0 0 ${v.length}${nr()}\r\n${v}\r\n`;
    }
    case 5:
      return arith((k) => `${r.pick(['incr', 'decr'])} ${k} ${r.int(0, 1000)}${nr()}\r\n`);
    case 6:
      return `delete ${r.bool(0.8) ? vk() : r.pick(NUM_KEYS)}${nr()}\r\n`;
    case 7:
      return `touch ${vk()} ${r.pick([0, 100, 1000])}${nr()}\r\n`;
    case 8:
    case 9:
    case 10:
      return `get ${keys(r.int(1, 8))}\r\n`;
    case 11:
      return `gets ${keys(r.int(1, 4))}\r\n`;
    case 12:
      return `${r.pick(['gat', 'gats'])} ${r.pick([0, 100, -1])} ${keys(r.int(1, 4))}\r\n`;
    case 13:
    case 14: {
      const flags = r.pick(['v', 'v f', 's v k', 'c', 'v q', 'k q', 'O1 v', 'f s', 'h']);
      // `h` asks only value keys: memcached rewrites a number in place on incr/decr only while no reply
      // still holds the item (refcount 2), else it links a new, never-fetched copy, so `h` after an incr
      // depends on when memcached sent an earlier get's reply, through a proxy or not (seed 65081)
      return `mg ${flags === 'h' || r.bool(0.8) ? vk() : nk()} ${flags}\r\n`;
    }
    case 15: {
      const v = randomValue(r);
      return `ms ${vk()} ${v.length} ${r.pick(['', 'F3', 'q', 'MA', 'MP', 'ME', 'T0', 'k O9'])}\r\n${v}\r\n`.replace(
        ' \r\n',
        '\r\n',
      );
    }
    case 16:
      return `md ${vk()}${r.pick(['', ' q', ' k'])}\r\n`;
    case 17:
      return arith((k) => `ma ${k}${r.pick(['', ' v', ' q', ' MD v', ' D7 v', ' N0 J5 v'])}\r\n`);
    case 18:
      return 'mn\r\n';
    case 19:
      return r.bool(0.1) ? 'flush_all\r\n' : 'version\r\n';
    case 20:
      return r.pick([
        'bogus\r\n',
        'get\r\n',
        'verbosity 0\r\n',
        `incr ${r.pick(NUM_KEYS)} x\r\n`,
        'set k 0 0\r\n',
      ]);
    default:
      return `get ${vk()} ${vk()} ${vk()}\r\n`;
  }
}

// ---------------------------------------------------------------------------------------------

/** Three backends with different settings, so that merged stats show which rule applied. */
const BACKEND_SETTINGS = [
  { threads: 1, maxConns: 64, memoryMb: 16 },
  { threads: 2, maxConns: 128, memoryMb: 32 },
  { threads: 3, maxConns: 256, memoryMb: 48 },
] as const;

for (const protocol of [DownstreamProtocols.binary, DownstreamProtocols.ascii] as DownstreamProtocol[]) {
  const path = pathName(protocol);
  const targetName = `moxi.ts ${path} (3 memcacheds)`;

  describe(`commands through moxi.ts (${path}) to 3 memcacheds, compared with one memcached`, () => {
    let ref: ServerHandle;
    let backends: ServerHandle[] = [];
    let proxy: ProxyHandle;
    let pair: Pair;

    before(async () => {
      [ref, ...backends] = await Promise.all([
        startMemcached({ memoryMb: 64, extraArgs: [...DETERMINISTIC_MEMCACHED_ARGS] }),
        ...BACKEND_SETTINGS.map((s) =>
          startMemcached({ ...s, extraArgs: [...DETERMINISTIC_MEMCACHED_ARGS] }),
        ),
      ]);
      proxy = await startProxy((p) => `${p[0]}=${hostList(backends)}`, {
        behaviors: behaviorsFor(protocol, 'downstream_timeout=3000'),
      });
      pair = {
        ref,
        target: proxy,
        stop: async () => {
          await Promise.all([ref.stop(), proxy.stop()]);
        },
      };
    });
    after(async () => {
      // (the handles are unset when before() failed; processes.ts stops whatever was started)
      const started: (ServerHandle | undefined)[] = [ref, proxy, ...backends];
      await Promise.all(started.map((h) => (h === undefined ? Promise.resolve() : h.stop())));
    });

    describe('same replies as memcached', () => {
      cases.forEach((c, i) => {
        it(c.name, () => runDualCase(pair, c, 3000 + i * 7, targetName));
      });
    });

    it('multi-get: values follow the client key order across servers, exact bytes', async () => {
      await flushBoth(pair);
      const model = new KetamaRouter(backends.map((s) => ({ host: '127.0.0.1', port: s.port })));
      const byServer: string[][] = [[], [], []];
      for (let i = 0; i < 300 && byServer.some((l) => l.length < 4); i++) {
        const k = `order:${i}`;
        byServer[model.serverIndex(Buffer.from(k))].push(k);
      }
      assert.ok(
        byServer.every((l) => l.length >= 4),
        'keys for every server',
      );
      // interleave servers 2,0,1,0,2,1,1,0,2,2 so that no server's keys are contiguous
      const pattern = [2, 0, 1, 0, 2, 1, 1, 0, 2, 2];
      const taken = [0, 0, 0];
      const order = pattern.map((s) => byServer[s][taken[s]++]);
      const c = await RawClient.connect(proxy.port);
      try {
        const sets = order.map((k, i) => `set ${k} ${i} 0 ${k.length + 1}\r\n${k}!\r\n`).join('');
        const sr = await timedRequest(c, sets, (b) => countReplies(b) >= order.length, 5000);
        assert.equal(sr.text, 'STORED\r\n'.repeat(order.length), describeExchange(sets, sr));
        const value = (k: string): string => `VALUE ${k} ${order.indexOf(k)} ${k.length + 1}\r\n${k}!\r\n`;
        const asked = [
          order[0],
          'miss:1',
          ...order.slice(1, 6),
          order[0],
          'miss:2',
          ...order.slice(6),
          order[3],
          order[3],
        ];
        const send = `get ${asked.join(' ')}\r\nget ${[...order].reverse().join(' ')}\r\nget miss:3 miss:4\r\n`;
        const r = await timedRequest(c, send, (b) => countReplies(b) >= 3, 5000);
        const expected =
          asked
            .filter((k) => !k.startsWith('miss:'))
            .map(value)
            .join('') +
          'END\r\n' +
          [...order].reverse().map(value).join('') +
          'END\r\nEND\r\n';
        assert.equal(
          r.text,
          expected,
          `three pipelined multi-gets (key -> server: ${order.map((k) => `${k}->${model.serverIndex(Buffer.from(k))}`).join(' ')})\n${describeExchange(send, r)}`,
        );
        const gs = `gets ${order.join(' ')}\r\n`;
        const g = await timedRequest(c, gs, retrievalDone, 5000);
        assert.deepEqual(
          parseValues(g.raw).map((v) => [v.key, v.cas !== undefined]),
          order.map((k) => [k, true]),
          describeExchange(gs, g),
        );
      } finally {
        c.destroy();
      }
    });

    it(`arithmetic on a non-numeric value: ${protocol === 'binary' ? "moxi's a2b text" : "the server's text"}`, async () => {
      const expected =
        protocol === DownstreamProtocols.binary
          ? 'SERVER_ERROR a2b arith error\r\n'
          : 'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n';
      await requestOnce(proxy, 'set word 0 0 3\r\nabc\r\n');
      for (const cmd of ['incr word 1\r\n', 'decr word 1\r\n']) {
        const r = await requestOnce(proxy, cmd);
        assert.equal(r.text, expected, describeExchange(cmd, r));
      }
    });

    it("--memcached-errors: memcached's own lines for a non-numeric incr/decr and a value too large", async () => {
      const withFlag = await startProxy((p) => `${p[0]}=${hostList(backends)}`, {
        behaviors: behaviorsFor(protocol, 'downstream_timeout=3000'),
        extraArgs: ['--memcached-errors'],
      });
      try {
        const big = 'x'.repeat(1024 * 1024 + 1);
        const steps = [
          'set mcerr:word 0 0 3\r\nabc\r\n',
          'incr mcerr:word 1\r\n',
          'decr mcerr:word 1 noreply\r\nget mcerr:word\r\n',
          `set mcerr:big 0 0 ${big.length}\r\n${big}\r\n`,
          `add mcerr:big 0 0 ${big.length} noreply\r\n${big}\r\nget mcerr:big\r\n`,
          'set mcerr:n 0 0 2\r\n10\r\nincr mcerr:n 5\r\ntouch mcerr:n 100\r\n',
        ];
        for (const send of steps) {
          const complete = (b: Buffer): boolean =>
            /(STORED|END|TOUCHED|\d|value)\r\n$/.test(b.toString('latin1'));
          const [want, got] = await Promise.all([
            requestOnce(ref, send, complete),
            requestOnce(withFlag, send, complete),
          ]);
          assert.equal(
            got.text,
            want.text,
            `memcached: ${JSON.stringify(want.text)}\n${describeExchange(send, got)}`,
          );
        }
      } finally {
        await withFlag.stop();
      }
    });

    it("binary STAT of a group: every server's, merged; one no server knows: their KEY_ENOENT", async () => {
      for (let i = 0; i < 30; i++) await requestOnce(proxy, `set statgroup:${i} 0 0 1\r\nx\r\n`);
      const direct = await Promise.all(backends.map((b) => requestOnce(b, 'stats items\r\n', statsDone)));
      const perServer = direct.map((r) => Number(/STAT items:1:number (\d+)/.exec(r.text)?.[1] ?? 0));
      const stat = async (server: { port: number }, group: string) => {
        const c = await RawClient.connect(server.port);
        try {
          const ex = await binaryExchange(c, binRequest({ opcode: BinOp.stat, key: group, opaque: 9 }));
          assert.ok(ex.sentinelSeen, `STAT ${group}: ${printable(ex.data)}`);
          return parseBinFrames(ex.data).frames;
        } finally {
          c.destroy();
        }
      };
      const items = await stat(proxy, 'items');
      assert.ok(
        items.every((f) => f.opcode === BinOp.stat && f.status === 0 && f.opaque === 9),
        'STAT packets, with the client opaque',
      );
      assert.equal(items.at(-1)?.keylen, 0, 'ends with the empty STAT');
      const number = items.find((f) => f.key.toString() === 'items:1:number');
      assert.equal(
        number?.value.toString(),
        String(perServer.reduce((a, n) => a + n, 0)),
        `items:1:number summed over the servers (${perServer.join(' + ')})`,
      );
      const settings = await stat(proxy, 'settings');
      assert.ok(
        settings.some((f) => f.key.toString() === 'maxbytes'),
        'STAT settings lists maxbytes',
      );
      const [bogus, reference] = await Promise.all([stat(proxy, 'bogus'), stat(ref, 'bogus')]);
      assert.deepEqual(
        bogus.map((f) => [f.status, f.value.toString()]),
        reference.map((f) => [f.status, f.value.toString()]),
        'an unknown group: what memcached answers',
      );
    });

    it('long lines: never a disconnect (an unknown 3000-byte line, a 3000-byte key)', async () => {
      const c = await RawClient.connect(proxy.port);
      try {
        for (const [send, expected] of [
          [`${'x'.repeat(3000)}\r\n`, 'ERROR\r\n'],
          [`get ${'K'.repeat(3000)}\r\n`, 'CLIENT_ERROR bad command line format\r\n'],
          [`set ${'K'.repeat(3000)} 0 0 1\r\nx\r\n`, 'CLIENT_ERROR bad command line format\r\nERROR\r\n'],
          ['set ok 0 0 1\r\nx\r\nget ok\r\n', 'STORED\r\nVALUE ok 0 1\r\nx\r\nEND\r\n'],
        ] as const) {
          const r = await timedRequest(c, send, (b) => b.length >= expected.length, 3000);
          assert.equal(r.text, expected, describeExchange(send, r));
          assert.ok(!r.closed, `the connection must stay open\n${describeExchange(send, r)}`);
        }
      } finally {
        c.destroy();
      }
    });

    it('stats: broadcast to every server and merged (sum, first seen, smallest)', async () => {
      const reset = await requestOnce(proxy, 'stats reset\r\n');
      assert.equal(reset.text, 'RESET\r\n', describeExchange('stats reset\r\n', reset));
      const fl = await requestOnce(proxy, 'flush_all\r\n');
      assert.equal(fl.text, 'OK\r\n', describeExchange('flush_all\r\n', fl));
      const keys = Array.from({ length: 12 }, (_, i) => `st${i}`);
      const sets = keys.map((k) => `set ${k} 0 0 1\r\nx\r\n`).join('');
      const sr = await requestOnce(proxy, sets, (b) => countReplies(b) >= keys.length);
      assert.equal(sr.text, 'STORED\r\n'.repeat(keys.length), describeExchange(sets, sr));

      const direct = await Promise.all(
        backends.map(async (s) => parseStats((await requestOnce(s, 'stats\r\n', statsDone)).text)),
      );
      const r = await requestOnce(proxy, 'stats\r\n', statsDone);
      const report = `${describeExchange('stats\r\n', r)}\n--- backends:\n${direct.map((d) => [...d].map(([k, v]) => `${k}=${v}`).join(' ')).join('\n')}`;
      assert.ok(r.text.endsWith('END\r\n'), `stats through the proxy must end with END\n${report}`);
      const lines = r.text.split('\r\n').slice(0, -2);
      const names = new Set<string>();
      for (const line of lines) {
        const t = line.split(' ');
        assert.ok(t[0] === 'STAT' && t.length === 3, `not a STAT line: ${JSON.stringify(line)}\n${report}`);
        assert.ok(!names.has(t[1]), `STAT ${t[1]} appears twice\n${report}`);
        names.add(t[1]);
      }
      const merged = parseStats(r.text);
      const num = (m: Map<string, string>, k: string): number => Number(m.get(k));
      const sum = (k: string): number => direct.reduce((s, d) => s + num(d, k), 0);
      const min = (k: string): number => Math.min(...direct.map((d) => num(d, k)));
      const has = (k: string): string => {
        assert.ok(merged.has(k), `merged stats lack ${k}\n${report}`);
        return merged.get(k)!;
      };
      for (const k of direct[0].keys()) has(k);
      // summed
      assert.equal(Number(has('curr_items')), sum('curr_items'), `curr_items\n${report}`);
      assert.equal(Number(has('total_items')), sum('total_items'), `total_items\n${report}`);
      assert.equal(Number(has('cmd_set')), sum('cmd_set'), `cmd_set\n${report}`);
      assert.equal(Number(has('threads')), 1 + 2 + 3, `threads is summed\n${report}`);
      assert.equal(Number(has('max_connections')), 64 + 128 + 256, `max_connections is summed\n${report}`);
      // first seen
      assert.equal(has('version'), direct[0].get('version'), `version\n${report}`);
      assert.equal(has('libevent'), direct[0].get('libevent'), `libevent\n${report}`);
      assert.ok(
        direct.some((d) => d.get('pid') === has('pid')),
        `pid is one server's pid\n${report}`,
      );
      // smallest, really the smallest (moxi's bug kept the largest)
      assert.equal(
        Number(has('limit_maxbytes')),
        16 * 1024 * 1024,
        `limit_maxbytes keeps the smallest\n${report}`,
      );
      assert.equal(has('pointer_size'), direct[0].get('pointer_size'), `pointer_size\n${report}`);
      assert.equal(has('accepting_conns'), '1', `accepting_conns\n${report}`);
      for (const k of ['uptime', 'time']) {
        const v = Number(has(k));
        assert.ok(
          v >= min(k) && v <= min(k) + 2,
          `${k} keeps the smallest (${v}, servers had ${direct.map((d) => d.get(k)).join(', ')})\n${report}`,
        );
      }
      // floats: summed, printed with six decimals
      for (const k of ['rusage_user', 'rusage_system']) {
        const v = has(k);
        assert.match(v, /^\d+\.\d{6}$/, `${k} is printed with %f\n${report}`);
        assert.ok(
          Number(v) >= sum(k) - 1e-6 && Number(v) <= sum(k) + 2,
          `${k} is summed (${v} vs ${sum(k)})\n${report}`,
        );
      }
    });

    it('stats reset and flush_all reach every server', async () => {
      const keys = Array.from({ length: 30 }, (_, i) => `fl${i}`);
      const sets = keys.map((k) => `set ${k} 0 0 1\r\nx\r\n`).join('');
      const sr = await requestOnce(proxy, sets, (b) => countReplies(b) >= keys.length);
      assert.equal(sr.text, 'STORED\r\n'.repeat(keys.length), describeExchange(sets, sr));
      const before = await Promise.all(backends.map((s) => directGetMany(s, keys)));
      assert.ok(
        before.every((m) => m.size > 0),
        `keys on every server: ${before.map((m) => m.size).join(', ')}`,
      );

      const reset = await requestOnce(proxy, 'stats reset\r\n');
      assert.equal(reset.text, 'RESET\r\n', describeExchange('stats reset\r\n', reset));
      for (const s of backends) {
        const st = parseStats((await requestOnce(s, 'stats\r\n', statsDone)).text);
        assert.equal(st.get('cmd_set'), '0', `stats reset reached the server on ${s.port}`);
      }

      const fl = await requestOnce(proxy, 'flush_all\r\n');
      assert.equal(fl.text, 'OK\r\n', describeExchange('flush_all\r\n', fl));
      const after1 = await Promise.all(backends.map((s) => directGetMany(s, keys)));
      assert.deepEqual(
        after1.map((m) => m.size),
        [0, 0, 0],
        'flush_all emptied every server',
      );

      const r2 = await requestOnce(proxy, sets, (b) => countReplies(b) >= keys.length);
      assert.equal(r2.text, 'STORED\r\n'.repeat(keys.length));
      const quiet = await requestOnce(proxy, 'flush_all noreply\r\nversion\r\n');
      assert.match(
        quiet.text,
        /^VERSION \S+\r\n$/,
        `flush_all noreply says nothing\n${describeExchange('flush_all noreply\r\nversion\r\n', quiet)}`,
      );
      const emptied = await pollUntil(
        async () =>
          (await Promise.all(backends.map((s) => directGetMany(s, keys)))).every((m) => m.size === 0)
            ? true
            : undefined,
        2000,
      );
      assert.equal(emptied, true, 'flush_all noreply emptied every server');
    });

    it('version, verbosity, mn and quit are answered locally while every server is stopped', async () => {
      const c = await RawClient.connect(proxy.port);
      for (const s of backends) pauseServer(s);
      try {
        const steps: [string, RegExp][] = [
          ['version\r\n', /^VERSION \S+\r\n$/],
          ['verbosity 1\r\n', /^OK\r\n$/],
          ['verbosity 0 noreply\r\nversion\r\n', /^VERSION \S+\r\n$/],
          ['mn\r\n', /^MN\r\n$/],
          ['verbosity\r\n', /^ERROR\r\n$/],
          ['bogus\r\n', /^ERROR\r\n$/],
        ];
        for (const [send, re] of steps) {
          const r = await timedRequest(c, send, (b) => b.indexOf('\r\n') >= 0, 2000);
          assert.match(
            r.text,
            re,
            `answered locally (every server is SIGSTOPped)\n${describeExchange(send, r)}`,
          );
          assert.ok(r.ms < 1000, `local reply took ${Math.round(r.ms)} ms`);
        }
        const q = await timedRequest(c, 'quit\r\n', () => false, 2000);
        assert.ok(q.closed, `quit closes the connection at once\n${describeExchange('quit\r\n', q)}`);
        assert.equal(q.raw.length, 0, 'quit says nothing');
        assert.ok(q.ms < 1000, `quit took ${Math.round(q.ms)} ms`);
      } finally {
        for (const s of backends) resumeServer(s);
        c.destroy();
      }
      // and the servers are usable again through the proxy
      const r = await requestOnce(proxy, 'set after:pause 0 0 1\r\nx\r\n', undefined, 5000);
      assert.equal(r.text, 'STORED\r\n', describeExchange('set after:pause 0 0 1\r\nx\r\n', r));
    });

    const seed = Number(process.env['MOXI_TEST_SEED'] ?? Date.now() % 1_000_000);
    it(`seeded random operations (seed ${seed})`, async () => {
      await flushBoth(pair);
      const r = new SeededRandom(seed);
      const s = await DualSession.open(pair, A);
      const history: string[] = [];
      try {
        for (let batch = 0, ops = 0; ops < 1500 && batch < 1000; batch++) {
          const n = r.int(1, 8);
          let text = '';
          const fetched = new Set<string>();
          for (let i = 0; i < n; i++) text += randomOp(r, fetched);
          ops += n;
          // a cas for a key never fetched uses a unique that cannot match (cas 0 has its own case)
          const send = (v: Vars): string =>
            text.replace(/\{cas:([^}]*)\}/g, (_m, k: string) => v.casOf.get(k) ?? '999999999999');
          const { ref: rr, target: t } = await s.step(
            { send, timeoutMs: 10_000 },
            r.bool(0.3) ? r.int(1, 1e6) : undefined,
          );
          history.push(text);
          if (history.length > 4) history.shift();
          assertSameBatch(
            `random batch ${batch} (replay with MOXI_TEST_SEED=${seed})`,
            rr,
            t,
            targetName,
            history,
          );
          assert.ok(!rr.closed, 'the random phase never closes the connection');
        }
      } finally {
        await s.close();
      }
    });

    it(`seeded random binary operations (seed ${seed})`, () =>
      randomBinaryPhase(pair, seed, targetName, true));
  });
}
