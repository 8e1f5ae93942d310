/**
 * Hostile clients beside well-behaved ones. For a few seconds, connections send seeded random
 * traffic: text and meta commands with malformed or extreme arguments, storage commands whose data
 * is too short, too long or badly terminated, binary headers with a wrong magic, unknown opcodes,
 * inconsistent lengths or bodies of up to 4 GB that never come, and plain noise; every message is
 * cut at random points, and connections end or reset half way, some without ever reading. Meanwhile
 * canary clients (text get/set, meta, a text multi-get across both servers, binary SET/GETK and a
 * quiet GETKQ batch) check every reply byte for byte. This runs against moxi.ts as a proxy (ketama
 * over two memcacheds with binary and with text downstream, and a vBucket map) and as the embedded
 * server. Afterwards:
 *
 *  - the process still runs and answers `stats`;
 *  - no canary saw a wrong, missing, extra or late (10 s) reply;
 *  - a proxy lost none of its server connections: nothing a client sends may make a server close
 *    one (which would cost other clients their pipelined requests), so each server's
 *    `tot_downstream_closed_error` stays 0 and at most downstream_conn_max connections were opened;
 *  - peak RSS stayed under 300 MB (values of up to 1 MB arrive on six connections at once).
 *
 * The flush commands are never sent (they would empty the canaries' keys, a correct reply the
 * canaries could not tell from a lost write), nor `cache_memlimit` or `shutdown`. MOXI_TEST_SEED
 * replays a run; every failure names its seed and the last messages the hostile clients sent.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { BufferedSocket } from '../helpers/buffered-socket.ts';
import { LOOPBACK } from '../helpers/ports.ts';
import { startMemcached, startMoxi, type ServerHandle } from '../helpers/processes.ts';
import {
  behaviorsFor,
  hostList,
  parseStats,
  requestOnce,
  sleep,
  startProxy,
  statsDone,
  vbucketJson,
} from '../helpers/proxy.ts';
import { SeededRandom } from '../helpers/random.ts';
import {
  BinMagic,
  BinOp,
  binRequest,
  parseBinFrames,
  printable,
  storeExtras,
  u32Extras,
} from '../helpers/raw-client.ts';

const SEED = Number(process.env['MOXI_TEST_SEED'] ?? Date.now() % 1_000_000);
const RUN_MS = 3000;
const HOSTILE_CONNECTIONS = 6;
const REPLY_TIMEOUT_MS = 10_000;
const MIN_CANARY_ROUNDS = 10;
const PEAK_RSS_LIMIT = 300 * 1024 * 1024;
const RECENT_MESSAGES = 6;
/** moxi's downstream_conn_max default: a proxy that never loses a connection opens at most this many. */
const DOWNSTREAM_CONN_MAX = 4;

// ---------------------------------------------------------------------------------------------
// What hostile clients send

const TEXT_VERBS = [
  'get', 'gets', 'gat', 'gats', 'set', 'add', 'replace', 'append', 'prepend', 'cas', 'incr', 'decr',
  'touch', 'delete', 'mg', 'ms', 'md', 'ma', 'mn', 'me', 'stats', 'stats proxy', 'stats slabs',
  'stats items', 'stats settings', 'stats sizes', 'stats reset', 'stats detail', 'stats cachedump',
  'version', 'verbosity', 'quit', 'lru_crawler', 'watch', 'slabs', 'misbehave', 'bogus', 'GET', 'get\0', '',
]; // prettier-ignore
const STORAGE_VERBS = new Set(['set', 'add', 'replace', 'append', 'prepend', 'cas', 'ms']);
const NUMBERS = [
  '0', '1', '-1', '5', '100', '4294967295', '4294967296', '18446744073709551615',
  '18446744073709551616', '99999999999999999999', 'abc', '1e3', ' ', '', '+5', '0x10', '2147483648',
  '-2147483649', '1048577', '33554433',
]; // prettier-ignore
const WORDS = [
  'noreply', 'v', 'T1', 'N0', 'q', 'k', 'O123', 'b', 'c', 'f', 'h', 'l', 't', 's', 'MS', 'ME', 'MI',
  'MD', 'MA', 'S5', 'I', 'E9', 'x', 'D10', 'J5', 'base64',
]; // prettier-ignore
const BINARY_FLUSH = new Set<number>([BinOp.flush, BinOp.flushq]);
/** A binary body is cut here whatever its header claims (the rest never comes). */
const MAX_BINARY_BODY = 200_000;

/** Hostile keys never start with "canary", so they never touch a canary's items. */
function hostileKey(rng: SeededRandom): string {
  const r = rng.next();
  if (r < 0.05) return 'k'.repeat(250);
  if (r < 0.1) return 'k'.repeat(rng.int(251, 260));
  if (r < 0.15) return String.fromCharCode(rng.int(0, 255), rng.int(0, 255), 0x41);
  if (r < 0.2) return 'a\x01b';
  return `f${rng.int(0, 49)}`;
}

function textMessage(rng: SeededRandom): Buffer {
  const verb = rng.pick(TEXT_VERBS);
  const parts = [verb];
  for (let n = rng.int(0, 5); n > 0; n--) {
    parts.push(rng.bool() ? hostileKey(rng) : rng.bool() ? rng.pick(NUMBERS) : rng.pick(WORDS));
  }
  const line = parts.join(rng.bool(0.1) ? '  ' : ' ') + (rng.bool(0.1) ? '\n' : '\r\n');
  let msg = Buffer.from(line, 'latin1');
  if (STORAGE_VERBS.has(verb) && rng.bool(0.7)) {
    const claimed = Number(parts[verb === 'ms' ? 2 : 4]);
    let length = Number.isInteger(claimed) && claimed >= 0 && claimed < 100_000 ? claimed : rng.int(0, 19);
    if (rng.bool(0.2)) length = Math.max(0, length + rng.int(-2, 2));
    msg = Buffer.concat([msg, Buffer.alloc(length, 0x61), Buffer.from(rng.bool(0.9) ? '\r\n' : 'xx')]);
  }
  return rng.bool(0.05) ? msg.subarray(0, rng.int(0, msg.length)) : msg;
}

/** Extras length of each opcode memcached knows (the flushes left out), for well-formed requests. */
const BINARY_EXTRAS = new Map<number, number>([
  [BinOp.get, 0], [BinOp.getq, 0], [BinOp.getk, 0], [BinOp.getkq, 0], [BinOp.delete, 0],
  [BinOp.deleteq, 0], [BinOp.set, 8], [BinOp.setq, 8], [BinOp.add, 8], [BinOp.addq, 8],
  [BinOp.replace, 8], [BinOp.replaceq, 8], [BinOp.append, 0], [BinOp.appendq, 0], [BinOp.prepend, 0],
  [BinOp.prependq, 0], [BinOp.increment, 20], [BinOp.incrementq, 20], [BinOp.decrement, 20],
  [BinOp.decrementq, 20], [BinOp.touch, 4], [BinOp.gat, 4], [BinOp.gatq, 4], [BinOp.gatk, 4],
  [BinOp.gatkq, 4], [BinOp.noop, 0], [BinOp.version, 0], [BinOp.stat, 0], [BinOp.verbosity, 4],
  [BinOp.quit, 0], [BinOp.quitq, 0], [BinOp.saslListMechs, 0], [BinOp.saslAuth, 0], [BinOp.saslStep, 0],
]); // prettier-ignore
const BINARY_OPCODES = [...BINARY_EXTRAS.keys()];
const WITH_VALUE = new Set<number>([
  BinOp.set, BinOp.setq, BinOp.add, BinOp.addq, BinOp.replace, BinOp.replaceq, BinOp.append,
  BinOp.appendq, BinOp.prepend, BinOp.prependq, BinOp.saslAuth, BinOp.saslStep,
]); // prettier-ignore

/** A key of 'f', 'g' and 'h' (never a canary's). */
function binaryKey(rng: SeededRandom, length: number): Buffer {
  const key = Buffer.alloc(length);
  for (let i = 0; i < length; i++) key[i] = 0x66 + rng.int(0, 2);
  return key;
}

/** A request whose lengths fit its opcode, with random contents: long keys, any extras, cas, vbucket. */
function wellFormedBinary(rng: SeededRandom): Buffer {
  const opcode = rng.pick(BINARY_OPCODES);
  const extras = Buffer.alloc(BINARY_EXTRAS.get(opcode) ?? 0);
  for (let i = 0; i < extras.length; i++) extras[i] = rng.bool(0.7) ? 0 : rng.int(0, 255);
  const keyLength = rng.pick([0, rng.int(1, 20), rng.int(1, 20), 250, 251, rng.int(252, 2000)]);
  let valueLength = 0;
  if (WITH_VALUE.has(opcode)) {
    const r = rng.next();
    valueLength =
      r < 0.02 ? 1024 * 1024 + rng.int(1, 100) : r < 0.07 ? rng.int(64 * 1024, 300_000) : rng.int(0, 40);
  }
  return binRequest({
    opcode,
    extras,
    key: binaryKey(rng, keyLength),
    value: Buffer.alloc(valueLength, 0x76),
    cas: rng.bool(0.8) ? 0n : BigInt(rng.int(0, 2 ** 31)),
    vbucket: rng.bool(0.8) ? 0 : rng.int(0, 65535),
    datatype: rng.bool(0.95) ? 0 : rng.int(0, 255),
    opaque: rng.int(0, 2 ** 32 - 1),
  });
}

/** A header whose fields need not agree: bad magic, any opcode, lengths that overlap or never arrive. */
function malformedBinary(rng: SeededRandom): Buffer {
  const keyLength = rng.bool(0.1) ? rng.int(0, 65535) : rng.int(0, 19);
  const extrasLength = rng.bool(0.1) ? rng.int(0, 255) : rng.pick([0, 4, 8, 20]);
  const valueLength = rng.bool(0.05) ? rng.int(0, 2 ** 31 - 1) : rng.int(0, 39);
  const claimed = rng.bool(0.1) ? rng.int(0, 2 ** 32 - 1) : keyLength + extrasLength + valueLength;
  let opcode = rng.bool(0.8) ? rng.int(0, 0x2f) : rng.int(0, 255);
  if (BINARY_FLUSH.has(opcode)) opcode = BinOp.get;
  const header = binRequest({
    opcode,
    magic: rng.bool(0.95) ? 0x80 : rng.int(0, 255),
    keylen: keyLength & 0xffff,
    extlen: extrasLength,
    datatype: rng.bool(0.9) ? 0 : rng.int(0, 255),
    vbucket: rng.int(0, 65535),
    bodylen: claimed >>> 0,
    opaque: rng.int(0, 2 ** 32 - 1),
  });
  const sent = Math.min(claimed >>> 0, MAX_BINARY_BODY);
  const body = Buffer.alloc(rng.bool(0.9) ? sent : rng.int(0, sent), 0x66);
  // random extras, then a key
  for (let i = 0; i < Math.min(body.length, keyLength + extrasLength); i++) {
    body[i] = i < extrasLength ? rng.int(0, 255) : 0x66 + rng.int(0, 2);
  }
  return Buffer.concat([header, body]);
}

function noise(rng: SeededRandom): Buffer {
  const b = Buffer.alloc(rng.int(0, 299));
  for (let i = 0; i < b.length; i++)
    b[i] = rng.bool() ? rng.int(0, 255) : rng.pick([13, 10, 32, 0x67, 0x65, 0x74]);
  return b;
}

/** A connection's messages are mostly text, mostly binary, or noise mixed with text. */
function hostileMessage(kind: number, rng: SeededRandom): Buffer {
  if (kind < 0.45) return textMessage(rng);
  if (kind < 0.85) return rng.bool(0.6) ? wellFormedBinary(rng) : malformedBinary(rng);
  return rng.bool() ? noise(rng) : textMessage(rng);
}

/** The last few messages sent, for failure messages. */
class RecentMessages {
  private readonly items: string[] = [];
  sent = 0;

  add(msg: Buffer): void {
    this.sent++;
    this.items.push(printable(msg, 160));
    if (this.items.length > RECENT_MESSAGES) this.items.shift();
  }

  toString(): string {
    return this.items.map((m) => `  ${m}`).join('\n');
  }
}

/** One hostile client after another on a connection slot, until `deadline`. */
async function hostileSlot(port: number, rng: SeededRandom, deadline: number, recent: RecentMessages) {
  while (Date.now() < deadline) {
    const sock = connect({ host: LOOPBACK, port });
    sock.on('error', () => {});
    // most read and drop their replies; some never read at all
    if (rng.bool(0.9)) sock.on('data', () => {});
    else sock.pause();
    const connected = await new Promise<boolean>((resolve) => {
      sock.once('connect', () => {
        resolve(true);
      });
      sock.once('error', () => {
        resolve(false);
      });
    });
    // (a function: the awaits below can close the socket)
    const open = (): boolean => connected && !sock.destroyed;
    const kind = rng.next();
    for (let n = rng.int(1, 30); open() && n > 0; n--) {
      const msg = hostileMessage(kind, rng);
      recent.add(msg);
      for (let off = 0; off < msg.length && open();) {
        const end = off + rng.int(1, msg.length - off);
        sock.write(msg.subarray(off, end));
        off = end;
        if (rng.bool(0.1)) await sleep(rng.int(0, 4));
      }
      if (rng.bool(0.3)) await sleep(rng.int(0, 9));
    }
    await sleep(rng.int(0, 49));
    if (rng.bool()) sock.destroy();
    else sock.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Canaries

/**
 * Waits for `want` as the next bytes received and takes them; fails as soon as a byte differs (a
 * short reply would otherwise look like a late one), on close, or after REPLY_TIMEOUT_MS.
 */
async function expectBytes(sock: BufferedSocket, want: Buffer, what: string): Promise<void> {
  const matched = await sock.waitFor(
    () => {
      const n = Math.min(sock.buf.length, want.length);
      if (!sock.buf.subarray(0, n).equals(want.subarray(0, n))) return false;
      return n === want.length ? true : undefined;
    },
    REPLY_TIMEOUT_MS,
    (why) => new Error(`${what}: connection ${why}; have ${printable(sock.buf, 300)}`),
  );
  if (!matched) {
    const at = firstDifference(sock.buf, want);
    throw new Error(
      `${what}: reply differs at byte ${at}:\n` +
        `  want ${printable(want.subarray(at), 200)}\n  got  ${printable(sock.buf.subarray(at), 200)}`,
    );
  }
  sock.buf = sock.buf.subarray(want.length);
}

function firstDifference(a: Buffer, b: Buffer): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

function canaryValue(rng: SeededRandom, id: string, round: number): string {
  return `v:${id}:${round}:${'x'.repeat(rng.int(0, 3000))}`;
}

/** A text client: set + get, meta set + meta get, and three sets + one multi-get. */
async function textCanary(port: number, id: number, deadline: number): Promise<number> {
  const rng = new SeededRandom(SEED + 101 + id);
  const sock = await BufferedSocket.connect(port);
  let round = 0;
  try {
    for (; Date.now() < deadline; round++) {
      const keys = [0, 1, 2].map((j) => `canary${id}:${(round * 3 + j) % 24}`);
      const values = keys.map(() => canaryValue(rng, String(id), round));
      const flags = rng.int(0, 2 ** 32 - 1);
      let req: string;
      let want: string;
      switch (round % 3) {
        case 0:
          req = `set ${keys[0]} ${flags} 0 ${values[0].length}\r\n${values[0]}\r\nget ${keys[0]}\r\n`;
          want = `STORED\r\nVALUE ${keys[0]} ${flags} ${values[0].length}\r\n${values[0]}\r\nEND\r\n`;
          break;
        case 1:
          req = `ms ${keys[0]} ${values[0].length} F${flags}\r\n${values[0]}\r\nmg ${keys[0]} v f\r\n`;
          want = `HD\r\nVA ${values[0].length} f${flags}\r\n${values[0]}\r\n`;
          break;
        default:
          req = keys.map((k, j) => `set ${k} ${flags} 0 ${values[j].length}\r\n${values[j]}\r\n`).join('');
          req += `get ${keys.join(' ')}\r\n`;
          want = 'STORED\r\n'.repeat(3);
          want += keys.map((k, j) => `VALUE ${k} ${flags} ${values[j].length}\r\n${values[j]}\r\n`).join('');
          want += 'END\r\n';
      }
      sock.sock.write(req);
      await expectBytes(sock, Buffer.from(want, 'latin1'), `text canary ${id}, round ${round}`);
    }
  } finally {
    sock.close();
  }
  return round;
}

/** A binary client: SET + GETK, and two SETs + a GETKQ batch (with a miss) ended by NOOP. */
async function binaryCanary(port: number, deadline: number): Promise<number> {
  const rng = new SeededRandom(SEED + 201);
  const sock = await BufferedSocket.connect(port);
  let round = 0;
  try {
    for (; Date.now() < deadline; round++) {
      const keys = [0, 1].map((j) => `canaryB:${(round * 2 + j) % 16}`);
      const values = keys.map(() => canaryValue(rng, 'B', round));
      const flags = rng.int(0, 2 ** 32 - 1);
      const opaque = (round * 8) >>> 0;
      const set = (j: number): Buffer =>
        binRequest({
          opcode: BinOp.set,
          key: keys[j],
          extras: storeExtras(flags, 0),
          value: values[j],
          opaque: opaque + j,
        });
      // the response wanted (status 0; its cas is not compared)
      const reply = (j: number, op: number, o: number): Buffer =>
        binRequest({
          magic: BinMagic.response,
          opcode: op,
          key: keys[j],
          extras: u32Extras(flags),
          value: values[j],
          opaque: o,
        });
      let req: Buffer;
      let wantFrames: Array<{ opcode: number; opaque: number; body?: Buffer }>;
      if (round % 2 === 0) {
        req = Buffer.concat([set(0), binRequest({ opcode: BinOp.getk, key: keys[0], opaque: opaque + 2 })]);
        wantFrames = [
          { opcode: BinOp.set, opaque },
          { opcode: BinOp.getk, opaque: opaque + 2, body: reply(0, BinOp.getk, opaque + 2) },
        ];
      } else {
        req = Buffer.concat([
          set(0),
          set(1),
          binRequest({ opcode: BinOp.getkq, key: keys[0], opaque: opaque + 2 }),
          binRequest({ opcode: BinOp.getkq, key: `canaryB:missing`, opaque: opaque + 3 }),
          binRequest({ opcode: BinOp.getkq, key: keys[1], opaque: opaque + 4 }),
          binRequest({ opcode: BinOp.noop, opaque: opaque + 5 }),
        ]);
        wantFrames = [
          { opcode: BinOp.set, opaque },
          { opcode: BinOp.set, opaque: opaque + 1 },
          { opcode: BinOp.getkq, opaque: opaque + 2, body: reply(0, BinOp.getkq, opaque + 2) },
          { opcode: BinOp.getkq, opaque: opaque + 4, body: reply(1, BinOp.getkq, opaque + 4) },
          { opcode: BinOp.noop, opaque: opaque + 5 },
        ];
      }
      sock.sock.write(req);
      const what = `binary canary, round ${round}`;
      const frames = await sock.waitFor(
        () => {
          const parsed = parseBinFrames(sock.buf);
          return parsed.frames.length >= wantFrames.length ? parsed : undefined;
        },
        REPLY_TIMEOUT_MS,
        (why) => new Error(`${what}: connection ${why}; have ${printable(sock.buf, 300)}`),
      );
      assert.equal(
        frames.frames.length,
        wantFrames.length,
        `${what}: extra frames ${printable(sock.buf, 300)}`,
      );
      assert.equal(frames.rest.length, 0, `${what}: trailing bytes ${printable(frames.rest, 300)}`);
      sock.buf = frames.rest;
      wantFrames.forEach((w, i) => {
        const f = frames.frames[i];
        const summary = `${what}, frame ${i}: ${printable(f.raw, 200)}`;
        assert.deepEqual([f.magic, f.opcode, f.status, f.opaque], [0x81, w.opcode, 0, w.opaque], summary);
        if (w.body !== undefined) {
          // the cas differs per store: compare all but it
          assert.ok(f.raw.subarray(0, 16).equals(w.body.subarray(0, 16)), summary);
          assert.ok(f.raw.subarray(24).equals(w.body.subarray(24)), summary);
        }
      });
    }
  } finally {
    sock.close();
  }
  return round;
}

// ---------------------------------------------------------------------------------------------
// The run

interface Target {
  readonly port: number;
  readonly handle: ServerHandle;
  /** A proxy (has server connections to keep). */
  readonly proxy: boolean;
}

async function hostileRun(target: Target, seed: number): Promise<string> {
  const rng = new SeededRandom(seed);
  const recent = new RecentMessages();
  const deadline = Date.now() + RUN_MS;
  const context = (): string =>
    `seed ${SEED} (MOXI_TEST_SEED), ${recent.sent} hostile messages; the last ones sent:\n${recent.toString()}\n` +
    `output: ${target.handle.output().slice(-1500)}`;

  const hostile = Array.from({ length: HOSTILE_CONNECTIONS }, (_, i) =>
    hostileSlot(target.port, new SeededRandom(rng.int(0, 2 ** 31) + i), deadline, recent),
  );
  const canaries = await Promise.allSettled([
    textCanary(target.port, 0, deadline),
    textCanary(target.port, 1, deadline),
    binaryCanary(target.port, deadline),
  ]);
  await Promise.all(hostile);

  assert.equal(target.handle.exited(), false, `the process exited; ${context()}`);
  for (const c of canaries) {
    if (c.status === 'rejected') assert.fail(`${String(c.reason)}\n${context()}`);
    assert.ok(c.value >= MIN_CANARY_ROUNDS, `a canary finished only ${c.value} rounds; ${context()}`);
  }
  const stats = await requestOnce(target, 'stats\r\n', statsDone);
  assert.match(
    stats.text,
    /STAT pid \d+\r\n[\s\S]*END\r\n$/,
    `stats after the run: ${stats.text.slice(0, 300)}`,
  );
  let connections = '';
  if (target.proxy) {
    // per server: connections opened and connections lost with requests on them or by an error
    const proxyStats = [...parseStats((await requestOnce(target, 'stats proxy\r\n', statsDone)).text)];
    const opened = proxyStats.filter(([name]) => /:server-\d+:tot_downstream_connect$/.test(name));
    const lost = proxyStats.filter(([name]) => /:server-\d+:tot_downstream_closed_error$/.test(name));
    assert.equal(opened.length, 2, 'stats proxy lists both servers');
    for (const [name, value] of lost) assert.equal(value, '0', `${name}; ${context()}`);
    for (const [name, value] of opened) {
      assert.ok(
        Number(value) <= DOWNSTREAM_CONN_MAX,
        `${name} ${value}: connections were replaced; ${context()}`,
      );
    }
    connections = `, server connections opened ${opened.map(([, v]) => v).join('/')}`;
  }
  const peak = target.handle.memory()?.peak ?? 0;
  const peakMb = (peak / 2 ** 20).toFixed(1);
  assert.ok(peak < PEAK_RSS_LIMIT, `peak RSS ${peakMb} MB; ${context()}`);
  const rounds = canaries.map((c) => (c.status === 'fulfilled' ? c.value : 0)).join('/');
  return `${recent.sent} hostile messages, canary rounds ${rounds}, peak RSS ${peakMb} MB${connections}`;
}

describe(`hostile clients beside canaries (seed ${SEED})`, () => {
  let servers: ServerHandle[] = [];
  before(async () => {
    servers = await Promise.all([startMemcached(), startMemcached()]);
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  const proxySetups = [
    { name: 'ketama, binary downstream', config: () => hostList(servers), protocol: 'binary' },
    { name: 'ketama, text downstream', config: () => hostList(servers), protocol: 'ascii' },
    {
      name: 'vBucket map, binary downstream',
      config: () =>
        vbucketJson(
          servers,
          Array.from({ length: 64 }, (_, i) => i % 2),
        ),
      protocol: 'binary',
    },
  ] as const;
  proxySetups.forEach((setup, i) => {
    it(`proxy (${setup.name}): survives, keeps its server connections, canaries intact`, async (t) => {
      const proxy = await startProxy((ports) => `${ports[0]}=${setup.config()}`, {
        behaviors: behaviorsFor(setup.protocol),
      });
      try {
        t.diagnostic(await hostileRun({ port: proxy.port, handle: proxy, proxy: true }, SEED + i));
      } finally {
        await proxy.stop();
      }
    });
  });

  it('embedded server: survives, canaries intact', async (t) => {
    const moxi = await startMoxi();
    try {
      t.diagnostic(await hostileRun({ port: moxi.port, handle: moxi, proxy: false }, SEED + 7));
    } finally {
      await moxi.stop();
    }
  });
});
