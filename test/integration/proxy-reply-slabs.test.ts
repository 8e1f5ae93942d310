/**
 * Large values are read from memcached into pooled slabs that come back for the next value once the
 * client's write is done (src/util/slab-pool.ts). A slab given back too early would be overwritten by
 * another value while a client's reply still refers to it, so this checks the replies byte for byte
 * while slabs are reused: many clients at once, a client that stops reading with megabytes of replies
 * queued, and clients that leave in the middle of a reply. In-process proxy (to watch the pool), over
 * real memcacheds, binary downstream (the default).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { parseCommandLine } from '../../src/cli/args.ts';
import { createProxy } from '../../src/cli/proxy-service.ts';
import { replySlabs } from '../../src/downstream/connection.ts';
import { ListenError, type Proxy } from '../../src/proxy/proxy.ts';
import { silentLogger } from '../../src/util/log.ts';
import { pauseServer, resumeServer, startMemcached, type ServerHandle } from '../helpers/processes.ts';
import { freePort, LOOPBACK } from '../helpers/ports.ts';
import { hostList, requestOnce, retrievalDone, timedRequest, withClient } from '../helpers/proxy.ts';
import { binaryExchange, binRequest, BinOp, parseBinFrames } from '../helpers/raw-client.ts';
import { SeededRandom } from '../helpers/random.ts';
import { firstDifference, readAll, stalledClient } from '../helpers/stalled-client.ts';

const SIZES = [64 * 1024, 70 * 1024, 131 * 1024, 300 * 1024, 900 * 1024];
const KEYS = SIZES.length * 2;
const TIMEOUT_MS = 15_000;

/** A value whose bytes say where they are and whose they are: a mix-up shows at its first byte. */
function valueFor(index: number, size: number): Buffer {
  const random = new SeededRandom(7000 + index);
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = random.int(0, 255);
  return b;
}

function replyFor(key: string, value: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`VALUE ${key} 0 ${value.length}\r\n`, 'latin1'),
    value,
    Buffer.from('\r\nEND\r\n', 'latin1'),
  ]);
}

/** memcached's reply to a binary GETK (opaque 0) of `key` stored with flags 0, its cas zeroed (withoutCas). */
function binaryValueReply(key: string, value: Buffer): Buffer {
  const head = Buffer.alloc(24 + 4);
  head[0] = 0x81;
  head[1] = BinOp.getk;
  head.writeUInt16BE(Buffer.byteLength(key, 'latin1'), 2);
  head[4] = 4;
  head.writeUInt32BE(4 + Buffer.byteLength(key, 'latin1') + value.length, 8);
  return Buffer.concat([head, Buffer.from(key, 'latin1'), value]);
}

/** Binary response frames with their cas fields zeroed, to compare with binaryValueReply. */
function withoutCas(frames: Buffer): Buffer {
  for (let at = 0; at + 24 <= frames.length; at += 24 + frames.readUInt32BE(at + 8))
    frames.fill(0, at + 16, at + 24);
  return frames;
}

async function startInProcessProxy(
  servers: readonly ServerHandle[],
  extra: readonly string[] = [],
): Promise<{ proxy: Proxy; port: number }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const parsed = parseCommandLine([
      '-z',
      `${port}=${hostList(servers)}`,
      '-l',
      LOOPBACK,
      '-t',
      '1',
      ...extra,
    ]);
    assert.equal(parsed.kind, 'run');
    const proxy = createProxy(parsed.options, silentLogger());
    try {
      await proxy.listen();
      return { proxy, port };
    } catch (err) {
      await proxy.close();
      if (!(err instanceof ListenError)) throw err;
    }
  }
  throw new Error('no free port for the proxy');
}

describe('large replies read into reused slabs', { timeout: 120_000 }, () => {
  let servers: ServerHandle[] = [];
  let proxy: Proxy | undefined;
  let port = 0;
  const values: Buffer[] = [];
  const keyOf = (i: number): string => `slab:${i}`;

  before(async () => {
    servers = await Promise.all([startMemcached(), startMemcached()]);
    ({ proxy, port } = await startInProcessProxy(servers));
    for (let i = 0; i < KEYS; i++) {
      const value = valueFor(i, SIZES[i % SIZES.length]);
      values.push(value);
      const head = Buffer.from(`set ${keyOf(i)} 0 0 ${value.length}\r\n`, 'latin1');
      const r = await requestOnce({ port }, Buffer.concat([head, value, Buffer.from('\r\n')]));
      assert.equal(r.text, 'STORED\r\n');
    }
  });

  after(async () => {
    await proxy?.close();
    await Promise.all(servers.map((s) => s.stop()));
  });

  /** `rounds` single gets of random keys on one connection, each reply checked byte for byte. */
  async function churn(seed: number, rounds: number): Promise<void> {
    await withClient({ port }, async (c) => {
      const random = new SeededRandom(seed);
      for (let round = 0; round < rounds; round++) {
        const i = random.int(0, KEYS - 1);
        const r = await timedRequest(c, `get ${keyOf(i)}\r\n`, retrievalDone, TIMEOUT_MS);
        const want = replyFor(keyOf(i), values[i]);
        assert.ok(
          r.raw.equals(want),
          `client ${seed} round ${round} get ${keyOf(i)}: ${r.raw.length} bytes of ${want.length}, first difference at ${firstDifference(r.raw, want)}`,
        );
      }
    });
  }

  it('answers many clients byte for byte while the slabs go round', async () => {
    const before = replySlabs.reused;
    await Promise.all(Array.from({ length: 8 }, (_, c) => churn(100 + c, 25)));
    assert.ok(replySlabs.reused - before > 50, `slabs reused: ${replySlabs.reused - before}`);
  });

  it("keeps a stalled client's queued replies intact while other clients reuse slabs", async () => {
    // 24 replies of 900 KB are far more than the kernel's socket buffers take: most of them wait in
    // the proxy, in slabs that must not be lent again until they are written
    const big = SIZES.indexOf(900 * 1024);
    const keys = Array.from({ length: 24 }, (_, n) => (n % 2 === 0 ? big : big + SIZES.length));
    const stalled = await stalledClient(port);
    try {
      stalled.write(keys.map((i) => `get ${keyOf(i)}\r\n`).join(''));
      const before = replySlabs.reused;
      await Promise.all(Array.from({ length: 4 }, (_, c) => churn(200 + c, 30)));
      assert.ok(replySlabs.reused - before > 20, `slabs reused meanwhile: ${replySlabs.reused - before}`);

      const want = Buffer.concat(keys.map((i) => replyFor(keyOf(i), values[i])));
      const got = await readAll(stalled, want.length, TIMEOUT_MS);
      assert.ok(got.equals(want), `stalled client: first difference at ${firstDifference(got, want)}`);
    } finally {
      stalled.destroy();
    }
  });

  it('answers binary clients (their replies written from the slabs too) alongside text ones', async () => {
    const binaryClient = withClient({ port }, async (c) => {
      const random = new SeededRandom(400);
      for (let round = 0; round < 20; round++) {
        const batch = Array.from({ length: 3 }, () => random.int(0, KEYS - 1));
        const payload = Buffer.concat(
          batch.map((i, n) => binRequest({ opcode: BinOp.getk, key: keyOf(i), opaque: round * 10 + n })),
        );
        const r = await binaryExchange(c, payload, { timeoutMs: TIMEOUT_MS });
        const { frames, rest } = parseBinFrames(r.data);
        assert.equal(rest.length, 0);
        assert.equal(frames.length, batch.length, `round ${round}: ${frames.length} replies`);
        frames.forEach((f, n) => {
          const want = values[batch[n]];
          assert.equal(f.status, 0);
          assert.equal(f.opaque, round * 10 + n);
          assert.equal(f.key.toString('latin1'), keyOf(batch[n]));
          assert.ok(
            f.value.equals(want),
            `binary round ${round} ${keyOf(batch[n])}: first difference at ${firstDifference(f.value, want)}`,
          );
        });
      }
    });
    await Promise.all([binaryClient, churn(401, 30), churn(402, 30)]);
  });

  it("keeps a stalled binary client's queued replies intact while other clients reuse slabs", async () => {
    const big = SIZES.indexOf(900 * 1024);
    const keys = Array.from({ length: 24 }, (_, n) =>
      n % 3 === 0 ? big : n % 3 === 1 ? big + SIZES.length : n % KEYS,
    );
    const stalled = await stalledClient(port);
    try {
      stalled.write(
        Buffer.concat(
          keys.map((i, n) => binRequest({ opcode: BinOp.getk, key: keyOf(i), opaque: 9000 + n })),
        ),
      );
      const before = replySlabs.reused;
      await Promise.all(Array.from({ length: 4 }, (_, c) => churn(600 + c, 30)));
      assert.ok(replySlabs.reused - before > 20, `slabs reused meanwhile: ${replySlabs.reused - before}`);
      const wantLength = keys.reduce((sum, i) => sum + 24 + 4 + keyOf(i).length + values[i].length, 0);
      const { frames, rest } = parseBinFrames(await readAll(stalled, wantLength, TIMEOUT_MS));
      assert.equal(rest.length, 0);
      assert.equal(frames.length, keys.length);
      frames.forEach((f, n) => {
        const want = values[keys[n]];
        assert.equal(f.opaque, 9000 + n);
        assert.equal(f.key.toString('latin1'), keyOf(keys[n]));
        assert.ok(
          f.value.equals(want),
          `binary reply ${n}: first difference at ${firstDifference(f.value, want)}`,
        );
      });
    } finally {
      stalled.destroy();
    }
  });

  it("gives the slabs of a binary client's replies back to the pool once written", async () => {
    const big = SIZES.indexOf(900 * 1024);
    const free = replySlabs.freeCount;
    await withClient({ port }, async (c) => {
      for (let round = 0; round < 10; round++) {
        const r = await binaryExchange(c, binRequest({ opcode: BinOp.get, key: keyOf(big), opaque: round }), {
          timeoutMs: TIMEOUT_MS,
        });
        const { frames } = parseBinFrames(r.data);
        assert.equal(frames.length, 1);
        assert.ok(frames[0].value.equals(values[big]), `round ${round}`);
      }
    });
    // 10 replies of 15 slabs each: taken from the pool (or made), and back in it after every write
    assert.ok(
      replySlabs.freeCount >= Math.max(free, 14),
      `${replySlabs.freeCount} slabs in the pool, ${free} before`,
    );
  });

  it('stores binary sets of large values sent in many small writes, byte for byte', async () => {
    await withClient({ port }, async (c) => {
      for (const [n, size] of [70 * 1024, 300 * 1024, 900 * 1024].entries()) {
        const key = `binset:${n}`;
        const value = valueFor(8000 + n, size);
        const extras = Buffer.alloc(8);
        extras.writeUInt32BE(0xcafe, 0);
        const frame = binRequest({ opcode: BinOp.set, key, value, extras, opaque: 77 + n });
        // uneven pieces, so that the value reaches the proxy over many reads
        const chunks: Buffer[] = [];
        for (let at = 0; at < frame.length;) {
          const piece = Math.min(frame.length - at, 1 + ((at * 7919) % 40_000));
          chunks.push(frame.subarray(at, at + piece));
          at += piece;
        }
        const stored = await binaryExchange(c, frame, { chunks, pauseMs: 1, timeoutMs: TIMEOUT_MS });
        const { frames } = parseBinFrames(stored.data);
        assert.equal(frames.length, 1);
        assert.equal(frames[0].status, 0, `set ${key}`);
        assert.equal(frames[0].opaque, 77 + n);
        // read back by a text client (a connection keeps the protocol it began with)
        const r = await requestOnce({ port }, `get ${key}\r\n`, retrievalDone, TIMEOUT_MS);
        const want = Buffer.concat([
          Buffer.from(`VALUE ${key} 51966 ${size}\r\n`, 'latin1'),
          value,
          Buffer.from('\r\nEND\r\n', 'latin1'),
        ]);
        assert.ok(r.raw.equals(want), `get ${key}: first difference at ${firstDifference(r.raw, want)}`);
      }
    });
  });

  /** The keys (indexes) whose values the memcached `server` holds. */
  async function keysOn(server: ServerHandle): Promise<number[]> {
    const owned: number[] = [];
    for (let i = 0; i < KEYS; i++) {
      const r = await requestOnce(server, `mg ${keyOf(i)}\r\n`);
      if (r.text.startsWith('HD')) owned.push(i);
    }
    return owned;
  }

  /**
   * A client's requests and the reply it must get, for the test below: text gets of one key (or of the
   * key twice), or binary GETKs.
   */
  const sharedValueModes = {
    'text, readers ask once': {
      greeting: 'version\r\n',
      get: (key: string) => Buffer.from(`get ${key}\r\n`),
      readerGet: (key: string) => Buffer.from(`get ${key}\r\n`),
      reply: (key: string, value: Buffer) => replyFor(key, value),
      readerReply: (key: string, value: Buffer) => replyFor(key, value),
      normalize: (got: Buffer) => got,
    },
    'text, readers ask twice': {
      greeting: 'version\r\n',
      get: (key: string) => Buffer.from(`get ${key}\r\n`),
      readerGet: (key: string) => Buffer.from(`get ${key} ${key}\r\n`),
      reply: (key: string, value: Buffer) => replyFor(key, value),
      readerReply: (key: string, value: Buffer) => {
        const unit = replyFor(key, value).subarray(0, -'END\r\n'.length);
        return Buffer.concat([unit, unit, Buffer.from('END\r\n')]);
      },
      normalize: (got: Buffer) => got,
    },
    binary: {
      greeting: binRequest({ opcode: BinOp.noop }),
      get: (key: string) => binRequest({ opcode: BinOp.getk, key }),
      readerGet: (key: string) => binRequest({ opcode: BinOp.getk, key }),
      reply: binaryValueReply,
      readerReply: binaryValueReply,
      normalize: withoutCas,
    },
  };

  for (const [mode, m] of Object.entries(sharedValueModes)) {
    it(`gives a value shared by gets that met back to the pool only after the last reply (${mode})`, async () => {
      const big = SIZES.indexOf(900 * 1024);
      const hot = keyOf(big);
      const [onFirst, onSecond] = await Promise.all(servers.map((s) => keysOn(s)));
      const [otherServer, hotKeys, otherKeys] = onFirst.includes(big)
        ? [servers[1], onFirst, onSecond]
        : [servers[0], onSecond, onFirst];
      assert.ok(
        hotKeys.length > 1 && otherKeys.length > 0,
        `keys per server: ${onFirst.join()} / ${onSecond.join()}`,
      );
      const slow = keyOf(otherKeys[0]);
      const readers = await Promise.all([0, 1, 2, 3].map(() => stalledClient(port, m.greeting)));
      const laters = await Promise.all([0, 1, 2].map(() => stalledClient(port, m.greeting)));
      // an empty pool: slabs given back early would be lent to the next values read, not dropped
      const held = Array.from({ length: replySlabs.freeCount }, () => replySlabs.lend());
      const squashedBefore = proxy!.pools[0].counters.totGetsSquashed;
      pauseServer(otherServer);
      try {
        // written in one turn: the proxy reads every client before the first fetch is written. The
        // later clients' gets join the readers' fetch, but their replies wait behind a get of theirs
        // that the paused server holds up
        for (const c of laters) c.write(Buffer.concat([m.get(slow), m.get(hot)]));
        for (const c of readers) c.write(m.readerGet(hot));
        const readerReply = m.readerReply(hot, values[big]);
        for (const [i, c] of readers.entries()) {
          const got = m.normalize(await readAll(c, readerReply.length, TIMEOUT_MS));
          c.destroy();
          assert.ok(
            got.equals(readerReply),
            `reader ${i}: first difference at ${firstDifference(got, readerReply)}`,
          );
        }
        const squashed = proxy!.pools[0].counters.totGetsSquashed - squashedBefore;
        // (the later clients' gets to the paused server join one another's too)
        assert.ok(
          squashed >= readers.length + laters.length - 1,
          `gets that joined another's fetch: ${squashed}`,
        );
        // other large values read now, from the server that answers
        await withClient({ port }, async (c) => {
          for (const i of hotKeys.filter((k) => k !== big)) {
            const r = await timedRequest(c, `get ${keyOf(i)}\r\n`, retrievalDone, TIMEOUT_MS);
            assert.ok(r.raw.equals(replyFor(keyOf(i), values[i])), `get ${keyOf(i)}`);
          }
        });
      } finally {
        resumeServer(otherServer);
        replySlabs.giveBack(held);
      }
      const want = Buffer.concat([m.reply(slow, values[otherKeys[0]]), m.reply(hot, values[big])]);
      for (const [i, c] of laters.entries()) {
        const got = m.normalize(await readAll(c, want.length, TIMEOUT_MS));
        c.destroy();
        assert.ok(got.equals(want), `later client ${i}: first difference at ${firstDifference(got, want)}`);
      }
    });
  }

  it('serves everyone else byte for byte when clients leave in the middle of large replies', async () => {
    const leavers = Array.from({ length: 6 }, async (_, n) => {
      const s = net.connect({ host: LOOPBACK, port });
      s.on('error', () => {});
      await new Promise<void>((resolve) => s.once('connect', resolve));
      s.write(`get ${keyOf(3)} ${keyOf(4)} ${keyOf(8)} ${keyOf(9)}\r\n`);
      // leave after the first piece of the reply (or at once, for every other one)
      if (n % 2 === 0) await new Promise((resolve) => s.once('data', resolve));
      s.destroy();
    });
    await Promise.all([...leavers, churn(300, 30), churn(301, 30)]);
    await churn(302, 10);
  });
});

/** The reply memcached gives to `get k1 k2 ...` (misses left out), for the values in `stored`. */
function multiReplyFor(keys: readonly string[], stored: ReadonlyMap<string, Buffer>): Buffer {
  const out: Buffer[] = [];
  for (const key of keys) {
    const value = stored.get(key);
    if (value === undefined) continue;
    out.push(Buffer.from(`VALUE ${key} 0 ${value.length}\r\n`, 'latin1'), value, Buffer.from('\r\n'));
  }
  out.push(Buffer.from('END\r\n'));
  return Buffer.concat(out);
}

describe(
  'large and small replies of many clients sharing one server connection',
  { timeout: 120_000 },
  () => {
    // one connection per server: replies to different clients come back to back, so a read often holds
    // the end of one reply and the start of a large one, which must then not be given back with it
    const MIXED = [100, 1500, 5000, 40 * 1024, 64 * 1024, 70 * 1024, 131 * 1024, 300 * 1024];
    let servers: ServerHandle[] = [];
    let proxy: Proxy | undefined;
    let port = 0;
    const stored = new Map<string, Buffer>();
    const names: string[] = [];

    before(async () => {
      servers = await Promise.all([startMemcached(), startMemcached()]);
      ({ proxy, port } = await startInProcessProxy(servers, ['-Z', 'downstream_conn_max=1']));
      for (let i = 0; i < MIXED.length * 2; i++) {
        const key = `mixed:${i}`;
        const value = valueFor(100 + i, MIXED[i % MIXED.length]);
        const head = Buffer.from(`set ${key} 0 0 ${value.length}\r\n`, 'latin1');
        const r = await requestOnce({ port }, Buffer.concat([head, value, Buffer.from('\r\n')]));
        assert.equal(r.text, 'STORED\r\n');
        stored.set(key, value);
        names.push(key);
      }
      names.push('mixed:missing');
    });

    after(async () => {
      await proxy?.close();
      await Promise.all(servers.map((s) => s.stop()));
    });

    it('keeps every reply whole, for clients that read and for one that stalls', async () => {
      const random = new SeededRandom(4242);
      const pick = (): string[] =>
        Array.from({ length: random.int(1, 4) }, () => names[random.int(0, names.length - 1)]);
      const stalledGets = Array.from({ length: 60 }, pick);
      const stalled = await stalledClient(port);
      try {
        stalled.write(stalledGets.map((keys) => `get ${keys.join(' ')}\r\n`).join(''));
        const before = replySlabs.reused;
        await Promise.all(
          Array.from({ length: 6 }, (_, c) =>
            withClient({ port }, async (client) => {
              const mine = new SeededRandom(500 + c);
              for (let round = 0; round < 40; round++) {
                const keys = Array.from(
                  { length: mine.int(1, 4) },
                  () => names[mine.int(0, names.length - 1)],
                );
                const r = await timedRequest(client, `get ${keys.join(' ')}\r\n`, retrievalDone, TIMEOUT_MS);
                const want = multiReplyFor(keys, stored);
                assert.ok(
                  r.raw.equals(want),
                  `client ${c} round ${round} get ${keys.join(' ')}: first difference at ${firstDifference(r.raw, want)} of ${want.length}`,
                );
              }
            }),
          ),
        );
        assert.ok(replySlabs.reused > before, 'slabs were reused meanwhile');
        const want = Buffer.concat(stalledGets.map((keys) => multiReplyFor(keys, stored)));
        const got = await readAll(stalled, want.length, TIMEOUT_MS);
        assert.ok(got.equals(want), `stalled client: first difference at ${firstDifference(got, want)}`);
      } finally {
        stalled.destroy();
      }
    });
  },
);
