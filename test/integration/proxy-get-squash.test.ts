/**
 * Identical one-key gets of different clients squash into one downstream fetch when they reach moxi.ts
 * before the first of them is written to its server. To make "at once" exact, the proxy process is
 * stopped (SIGSTOP) while the clients write, then continued: it reads every client in the same turn of
 * its event loop, before any fetch is flushed. Through real memcacheds, both downstream protocols:
 * every client gets exactly memcached's answer (gets with the cas, get without; large values whole;
 * misses as END when the server is gone), memcached counts one get per distinct request, and a client
 * that wrote the key just before never reads the value from before its write.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { killServer, pauseServer, resumeServer, type ServerHandle } from '../helpers/processes.ts';
import {
  BINARY_SENTINEL,
  BinOp,
  RawClient,
  binRequest,
  endsWithBinarySentinel,
  parseBinFrames,
  storeExtras,
  type BinResponse,
} from '../helpers/raw-client.ts';
import { firstDifference, readAll, stalledClient } from '../helpers/stalled-client.ts';
import {
  DownstreamProtocols,
  describeExchange,
  directCommand,
  parseStats,
  parseValues,
  pathName,
  retrievalDone,
  sleep,
  startProxyOverMemcacheds,
  statsDone,
  timedRequest,
  type DownstreamProtocol,
  type ProxyHandle,
} from '../helpers/proxy.ts';

const CLIENTS = 20;
const READ_TIMEOUT_MS = 8000;
/** 900 KB replies a stalled client asks for first. */
const FILLERS = 5;

/** `size` bytes that differ between values (`seed`) and along each one. */
function patterned(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * (31 + seed) + (i >> 9) + seed * 101) & 0xff;
  return b;
}

/** memcached's cmd_get summed over `servers`. */
/** The number `name` of one memcached's `stats`. */
async function serverStat(server: ServerHandle, name: string): Promise<number> {
  return Number(parseStats(await directCommand(server, 'stats\r\n', statsDone)).get(name));
}

async function cmdGets(servers: readonly ServerHandle[]): Promise<number> {
  let n = 0;
  for (const s of servers) n += await serverStat(s, 'cmd_get');
  return n;
}

/** The proxy's pool counter `name` (stats proxy pstd_stats). */
async function poolCounter(client: RawClient, name: string): Promise<number> {
  const r = await timedRequest(client, 'stats proxy\r\n', statsDone);
  const stat = [...parseStats(r.text)].find(([k]) => k.endsWith(`:pstd_stats:${name}`));
  assert.ok(stat !== undefined, `no ${name} in:\n${r.text}`);
  return Number(stat[1]);
}

/**
 * A proxy over two real memcacheds for the tests of one describe block, with a client of its own
 * (`admin`); the clients a test pushes onto `clients` are closed after it.
 */
function proxyFixture(protocol: DownstreamProtocol): {
  servers: ServerHandle[];
  proxy: ProxyHandle | undefined;
  admin: RawClient | undefined;
  clients: RawClient[];
} {
  const f = {
    servers: [] as ServerHandle[],
    proxy: undefined as ProxyHandle | undefined,
    admin: undefined as RawClient | undefined,
    clients: [] as RawClient[],
  };
  before(async () => {
    const started = await startProxyOverMemcacheds(protocol);
    f.servers = started.servers;
    f.proxy = started.proxy;
    f.admin = await RawClient.connect(started.proxy.port);
  });
  after(async () => {
    f.admin?.destroy();
    await f.proxy?.stop();
    await Promise.all(f.servers.map((s) => s.stop()));
  });
  afterEach(() => {
    for (const c of f.clients) c.destroy();
    f.clients = [];
  });
  return f;
}

for (const protocol of [DownstreamProtocols.ascii, DownstreamProtocols.binary] as DownstreamProtocol[]) {
  describe(`identical gets of many clients squash into one fetch (${pathName(protocol)})`, () => {
    const f = proxyFixture(protocol);

    async function set(key: string, data: string | Buffer, flags = 0): Promise<void> {
      const value = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
      const payload = Buffer.concat([
        Buffer.from(`set ${key} ${flags} 0 ${value.length}\r\n`, 'latin1'),
        value,
        Buffer.from('\r\n'),
      ]);
      const r = await timedRequest(f.admin!, payload);
      assert.equal(r.text, 'STORED\r\n', describeExchange(`set ${key}`, r));
    }

    /** `count` clients, each connected and answered once by the proxy (so it reads them from now on). */
    async function connectClients(count: number): Promise<RawClient[]> {
      for (let i = 0; i < count; i++) {
        const c = await RawClient.connect(f.proxy!.port);
        const r = await timedRequest(c, 'version\r\n');
        assert.match(r.text, /^VERSION /);
        f.clients.push(c);
      }
      return f.clients.slice(-count);
    }

    /**
     * Writes payloads[i] on clients[i] while the proxy is stopped, continues it, and returns each
     * client's whole reply (read until `done[i]`).
     */
    async function atOnce(
      targets: readonly RawClient[],
      payloads: readonly (string | Buffer)[],
      done: (i: number) => (b: Buffer) => boolean = () => retrievalDone,
    ): Promise<Buffer[]> {
      pauseServer(f.proxy!);
      try {
        await Promise.all(targets.map((c, i) => c.send(payloads[i])));
      } finally {
        resumeServer(f.proxy!);
      }
      const replies = await Promise.all(
        targets.map((c, i) => c.read({ until: done(i), timeoutMs: READ_TIMEOUT_MS })),
      );
      return replies.map((r, i) => {
        assert.ok(r.matched, `client ${i}: incomplete reply: ${r.data.toString('latin1').slice(0, 300)}`);
        return r.data;
      });
    }

    it('answers every client from one fetch', async () => {
      await set('hot', 'the value', 7);
      const targets = await connectClients(CLIENTS);
      const gets = await cmdGets(f.servers);
      const squashed = await poolCounter(f.admin!, 'tot_gets_squashed');
      const replies = await atOnce(
        targets,
        targets.map(() => 'get hot\r\n'),
      );
      for (const [i, raw] of replies.entries())
        assert.equal(raw.toString('latin1'), 'VALUE hot 7 9\r\nthe value\r\nEND\r\n', `client ${i}`);
      assert.equal((await cmdGets(f.servers)) - gets, 1, 'memcached served one get');
      assert.equal((await poolCounter(f.admin!, 'tot_gets_squashed')) - squashed, CLIENTS - 1);
    });

    it('keeps get and gets, and different keys, apart', async () => {
      for (let k = 0; k < 4; k++) await set(`key:${k}`, `value of ${k}`, k);
      const direct = new Map<string, string>();
      for (let k = 0; k < 4; k++) {
        const r = await timedRequest(f.admin!, `gets key:${k}\r\n`, retrievalDone);
        direct.set(`key:${k}`, parseValues(r.raw)[0].cas!);
      }
      const targets = await connectClients(CLIENTS);
      const gets = await cmdGets(f.servers);
      // client i: key i % 4, gets for odd i: 8 distinct requests
      const payloads = targets.map((_, i) => `${i % 2 === 1 ? 'gets' : 'get'} key:${i % 4}\r\n`);
      const replies = await atOnce(targets, payloads);
      for (const [i, raw] of replies.entries()) {
        const k = i % 4;
        const cas = i % 2 === 1 ? ` ${direct.get(`key:${k}`)}` : '';
        const data = `value of ${k}`;
        assert.equal(
          raw.toString('latin1'),
          `VALUE key:${k} ${k} ${data.length}${cas}\r\n${data}\r\nEND\r\n`,
          `client ${i}: ${payloads[i]}`,
        );
      }
      // key i % 4 and the verb by i % 2: keys 0 and 2 only ever get, 1 and 3 only gets
      assert.equal((await cmdGets(f.servers)) - gets, 4, 'one fetch per distinct get');
    });

    it('hands a large value whole to every client, also to clients that read it much later', async () => {
      const value = patterned(900 * 1024, 1);
      const other = patterned(900 * 1024, 2);
      await set('large', value, 3);
      await set('large:other', other);
      const readers = await connectClients(4);
      const stalled = await Promise.all([0, 1, 2].map(() => stalledClient(f.proxy!.port, 'version\r\n')));
      // replies to a client that does not read wait in the proxy once the kernel's buffers are full
      // (a few MB on loopback): the stalled clients' "get large" replies queue behind 4.5 MB of their own
      const filler = Buffer.concat([
        Buffer.from(`VALUE large:other 0 ${other.length}\r\n`),
        other,
        Buffer.from('\r\nEND\r\n'),
      ]);
      for (const s of stalled) s.write('get large:other\r\n'.repeat(FILLERS));
      await sleep(500);
      const gets = await cmdGets(f.servers);
      pauseServer(f.proxy!);
      try {
        for (const s of stalled) s.write('get large\r\n');
        await Promise.all(readers.map((c) => c.send('get large\r\n')));
      } finally {
        resumeServer(f.proxy!);
      }
      const reply = Buffer.concat([
        Buffer.from(`VALUE large 3 ${value.length}\r\n`),
        value,
        Buffer.from('\r\nEND\r\n'),
      ]);
      for (const [i, c] of readers.entries()) {
        const r = await c.read({ until: (b) => b.length >= reply.length, timeoutMs: READ_TIMEOUT_MS });
        assert.ok(r.data.equals(reply), `reader ${i}: the reply differs`);
      }
      assert.equal((await cmdGets(f.servers)) - gets, 1);
      // the slabs the value was read into go back to the proxy's pool once a reply is written: other
      // values read now must not land in the bytes the stalled clients' replies still wait to send
      for (let i = 0; i < 6; i++) {
        const r = await timedRequest(f.admin!, 'get large:other\r\n', retrievalDone, READ_TIMEOUT_MS);
        assert.ok(parseValues(r.raw)[0].data.equals(other));
      }
      for (const [i, s] of stalled.entries()) {
        const got = await readAll(s, FILLERS * filler.length + reply.length, READ_TIMEOUT_MS);
        s.destroy();
        const expected = Buffer.concat([...Array.from({ length: FILLERS }, () => filler), reply]);
        assert.ok(
          got.equals(expected),
          `stalled client ${i}: the replies differ from byte ${firstDifference(got, expected)} of ${expected.length}`,
        );
      }
    });

    it("never answers a client's get from a fetch older than its own write", async () => {
      await set('order', 'old');
      const [reader, writer, other] = await connectClients(3);
      for (let round = 0; round < 5; round++) {
        const fresh = `new${round}`;
        // the reader's get is read first and waits unsent; the writer's set and get come right after
        const replies = await atOnce(
          [reader, writer, other],
          ['get order\r\n', `set order 0 0 ${fresh.length}\r\n${fresh}\r\nget order\r\n`, 'get order\r\n'],
          (i) =>
            i === 1
              ? (b) => b.toString('latin1').startsWith('STORED\r\n') && retrievalDone(b.subarray(8))
              : retrievalDone,
        );
        assert.equal(
          replies[1].toString('latin1'),
          `STORED\r\nVALUE order 0 ${fresh.length}\r\n${fresh}\r\nEND\r\n`,
          `round ${round}: the writer read before its own set`,
        );
        for (const i of [0, 2]) {
          // concurrent with the set: either value, whole
          const [v] = parseValues(replies[i]);
          assert.ok(['old', `new${round - 1}`, fresh].includes(v.data.toString('latin1')), `round ${round}`);
        }
      }
    });

    it('answers the squashed gets as misses when the server is gone, and goes on', async () => {
      await set('lost', 'soon gone');
      const targets = await connectClients(6);
      // the server that holds "lost": the one whose get_hits grows
      const hits = await Promise.all(f.servers.map((s) => serverStat(s, 'get_hits')));
      const r = await timedRequest(f.admin!, 'get lost\r\n', retrievalDone);
      assert.equal(r.text, 'VALUE lost 0 9\r\nsoon gone\r\nEND\r\n');
      const after = await Promise.all(f.servers.map((s) => serverStat(s, 'get_hits')));
      const owner = f.servers.findIndex((_, i) => after[i] > hits[i]);
      assert.ok(owner >= 0);
      await killServer(f.servers[owner]);
      const replies = await atOnce(
        targets,
        targets.map(() => 'get lost\r\n'),
      );
      for (const [i, raw] of replies.entries())
        assert.equal(raw.toString('latin1'), 'END\r\n', `client ${i}`);
      // the proxy and the clients go on
      const v = await timedRequest(targets[0], 'version\r\n');
      assert.match(v.text, /^VERSION /);
    });
  });
}

describe("a get held back behind its client's other requests is not joined (a2b)", () => {
  let servers: ServerHandle[] = [];
  let proxy: ProxyHandle | undefined;
  const clients: RawClient[] = [];

  before(async () => {
    // one server: every key is on it
    ({ servers, proxy } = await startProxyOverMemcacheds(DownstreamProtocols.binary, 1));
    for (let i = 0; i < 3; i++) {
      const c = await RawClient.connect(proxy.port);
      assert.match((await timedRequest(c, 'version\r\n')).text, /^VERSION /);
      clients.push(c);
    }
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await proxy?.stop();
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('lets the others fetch without waiting for that client', async () => {
    const [a, b, c] = clients;
    for (const [key, data] of [
      ['x', 'ex'],
      ['y', 'why'],
      ['hot', 'value'],
    ]) {
      const r = await timedRequest(a, `set ${key} 0 0 ${data.length}\r\n${data}\r\n`);
      assert.equal(r.text, 'STORED\r\n');
    }
    const gets = await cmdGets(servers);
    // a's multi-get goes to the server as text; its one-key get, binary, waits until that is answered
    pauseServer(proxy!);
    try {
      await a.send('get x y\r\nget hot\r\n');
      await Promise.all([b.send('get hot\r\n'), c.send('get hot\r\n')]);
    } finally {
      resumeServer(proxy!);
    }
    const hot = 'VALUE hot 0 5\r\nvalue\r\nEND\r\n';
    const ra = await a.read({ until: (d) => d.toString('latin1').endsWith(hot), timeoutMs: READ_TIMEOUT_MS });
    assert.equal(ra.data.toString('latin1'), 'VALUE x 0 2\r\nex\r\nVALUE y 0 3\r\nwhy\r\nEND\r\n' + hot);
    for (const client of [b, c]) {
      const r = await client.read({ until: retrievalDone, timeoutMs: READ_TIMEOUT_MS });
      assert.equal(r.data.toString('latin1'), hot);
    }
    // x and y, a's hot, and b's and c's together
    assert.equal((await cmdGets(servers)) - gets, 4);
  });
});

describe('identical binary gets of many clients squash into one fetch (b2b)', () => {
  const f = proxyFixture(DownstreamProtocols.binary);

  /** A binary NOOP and its reply: the proxy has taken the connection as a binary one. */
  const NOOP = binRequest({ opcode: BinOp.noop, opaque: 7 });

  async function connectBinaryClients(count: number): Promise<RawClient[]> {
    for (let i = 0; i < count; i++) {
      const c = await RawClient.connect(f.proxy!.port);
      await c.send(NOOP);
      const r = await c.read({ until: (b) => b.length >= 24, timeoutMs: READ_TIMEOUT_MS });
      assert.equal(r.data[1], BinOp.noop);
      f.clients.push(c);
    }
    return f.clients.slice(-count);
  }

  async function setBinary(key: string, value: Buffer | string, flags: number): Promise<void> {
    const c = (await connectBinaryClients(1))[0];
    await c.send(
      Buffer.concat([
        binRequest({ opcode: BinOp.set, key, value, extras: storeExtras(flags, 0) }),
        BINARY_SENTINEL,
      ]),
    );
    const r = await c.read({ until: endsWithBinarySentinel, timeoutMs: READ_TIMEOUT_MS });
    assert.equal(parseBinFrames(r.data).frames[0].status, 0, `set ${key}`);
  }

  /** Writes payloads[i] (each followed by a NOOP) on targets[i] while the proxy is stopped; the frames each gets back. */
  async function binaryAtOnce(
    targets: readonly RawClient[],
    payloads: readonly Buffer[],
  ): Promise<BinResponse[][]> {
    pauseServer(f.proxy!);
    try {
      await Promise.all(targets.map((c, i) => c.send(Buffer.concat([payloads[i], BINARY_SENTINEL]))));
    } finally {
      resumeServer(f.proxy!);
    }
    const replies = await Promise.all(
      targets.map((c) => c.read({ until: endsWithBinarySentinel, timeoutMs: READ_TIMEOUT_MS })),
    );
    return replies.map((r, i) => {
      assert.ok(r.matched, `client ${i}: incomplete reply`);
      const frames = parseBinFrames(r.data).frames;
      return frames.slice(0, -1); // without the NOOP's
    });
  }

  it('answers every client from one fetch, each with its own opaque', async () => {
    await setBinary('bhot', 'binary value', 5);
    const targets = await connectBinaryClients(12);
    const gets = await cmdGets(f.servers);
    const squashed = await poolCounter(f.admin!, 'tot_gets_squashed');
    // half GETK, half GET: two fetches
    const opcodeOf = (i: number): number => (i % 2 === 0 ? BinOp.getk : BinOp.get);
    const replies = await binaryAtOnce(
      targets,
      targets.map((_, i) => binRequest({ opcode: opcodeOf(i), key: 'bhot', opaque: 1000 + i })),
    );
    for (const [i, frames] of replies.entries()) {
      assert.equal(frames.length, 1, `client ${i}`);
      const f = frames[0];
      assert.equal(f.status, 0);
      assert.equal(f.opcode, opcodeOf(i));
      assert.equal(f.opaque, 1000 + i);
      assert.equal(f.key.toString(), opcodeOf(i) === BinOp.getk ? 'bhot' : '');
      assert.equal(f.value.toString(), 'binary value');
      assert.equal(f.extras.readUInt32BE(0), 5);
    }
    assert.equal((await cmdGets(f.servers)) - gets, 2, 'one fetch per opcode');
    assert.equal((await poolCounter(f.admin!, 'tot_gets_squashed')) - squashed, 10);
  });

  it("never answers a client's get from a fetch older than its own write", async () => {
    await setBinary('border', 'old', 0);
    const [reader, writer] = await connectBinaryClients(2);
    for (let round = 0; round < 5; round++) {
      const fresh = `new${round}`;
      const get = binRequest({ opcode: BinOp.get, key: 'border', opaque: 3 });
      const replies = await binaryAtOnce(
        [reader, writer],
        [
          get,
          Buffer.concat([
            binRequest({ opcode: BinOp.set, key: 'border', value: fresh, extras: storeExtras(0, 0) }),
            get,
          ]),
        ],
      );
      assert.equal(replies[1].length, 2);
      assert.equal(replies[1][0].status, 0, 'set');
      assert.equal(
        replies[1][1].value.toString(),
        fresh,
        `round ${round}: the writer read before its own set`,
      );
    }
  });

  it('keeps quiet misses quiet and answers quiet hits', async () => {
    await setBinary('bquiet', 'here', 0);
    const targets = await connectBinaryClients(8);
    const gets = await cmdGets(f.servers);
    // clients 0-3: GETQ of a missing key; 4-7: GETKQ of a stored one
    const replies = await binaryAtOnce(
      targets,
      targets.map((_, i) =>
        binRequest({
          opcode: i < 4 ? BinOp.getq : BinOp.getkq,
          key: i < 4 ? 'bnothing' : 'bquiet',
          opaque: i,
        }),
      ),
    );
    for (const [i, frames] of replies.entries()) {
      if (i < 4) assert.equal(frames.length, 0, `client ${i}: a quiet miss answers nothing`);
      else {
        assert.equal(frames.length, 1, `client ${i}`);
        assert.equal(frames[0].opaque, i);
        assert.equal(frames[0].value.toString(), 'here');
      }
    }
    assert.equal((await cmdGets(f.servers)) - gets, 2);
  });

  it('hands a large value whole to every client, also to clients that read it much later', async () => {
    const value = patterned(700 * 1024, 3);
    const other = patterned(900 * 1024, 4);
    await setBinary('blarge', value, 9);
    await setBinary('blarge:other', other, 0);
    const readers = await connectBinaryClients(3);
    const stalled = await Promise.all([0, 1, 2].map(() => stalledClient(f.proxy!.port, NOOP)));
    const getOther = binRequest({ opcode: BinOp.get, key: 'blarge:other', opaque: 1 });
    for (const s of stalled) s.write(Buffer.concat(Array.from({ length: FILLERS }, () => getOther)));
    await sleep(500);
    const gets = await cmdGets(f.servers);
    const get = binRequest({ opcode: BinOp.get, key: 'blarge', opaque: 2 });
    pauseServer(f.proxy!);
    try {
      for (const s of stalled) s.write(get);
      await Promise.all(readers.map((c) => c.send(get)));
    } finally {
      resumeServer(f.proxy!);
    }
    for (const [i, c] of readers.entries()) {
      const r = await c.read({
        until: (b) => parseBinFrames(b).frames.length === 1,
        timeoutMs: READ_TIMEOUT_MS,
      });
      const f = parseBinFrames(r.data).frames[0];
      assert.ok(f.value.equals(value), `reader ${i}: the value differs`);
    }
    assert.equal((await cmdGets(f.servers)) - gets, 1);
    const churn = (await connectBinaryClients(1))[0];
    for (let i = 0; i < 6; i++) {
      await churn.send(getOther);
      const r = await churn.read({
        until: (b) => parseBinFrames(b).frames.length === 1,
        timeoutMs: READ_TIMEOUT_MS,
      });
      assert.ok(parseBinFrames(r.data).frames[0].value.equals(other));
    }
    const frameLength = (v: Buffer): number => 24 + 4 + v.length;
    for (const [i, s] of stalled.entries()) {
      const got = await readAll(s, FILLERS * frameLength(other) + frameLength(value), READ_TIMEOUT_MS);
      s.destroy();
      const frames = parseBinFrames(got).frames;
      assert.equal(frames.length, FILLERS + 1);
      for (const f of frames.slice(0, FILLERS))
        assert.ok(f.value.equals(other), `stalled client ${i}: a filler differs`);
      const last = frames[FILLERS].value;
      assert.ok(
        last.equals(value),
        `stalled client ${i}: the value differs from byte ${firstDifference(last, value)}`,
      );
    }
  });
});

/**
 * Under load, with no stopping: many clients setting and getting a few shared keys, each get checked
 * against the history of the sets as the clients saw them (performance.now() in this one process): a
 * get must not return a value that another set had replaced entirely before the get was sent (set
 * answered before the replacing set was sent, the replacing set answered before the get was sent),
 * nor one whose set was sent after the get was answered.
 */
describe('squashed gets under load never read an overwritten value', () => {
  const CLIENTS_UNDER_LOAD = 30;
  const OPS_PER_CLIENT = 150;
  const SHARED_KEYS = 3;
  const LOAD_LIMIT_MS = 15_000;

  interface Write {
    readonly key: string;
    readonly start: number;
    end: number;
  }

  for (const protocol of [DownstreamProtocols.ascii, DownstreamProtocols.binary] as DownstreamProtocol[]) {
    it(`keeps every get linearizable against the sets (${pathName(protocol)})`, async () => {
      const { servers, proxy } = await startProxyOverMemcacheds(protocol);
      const clients: RawClient[] = [];
      try {
        const writes = new Map<string, Write>();
        const byKey = new Map<string, Write[]>();
        const keyName = (k: number): string => `shared:${k}`;
        const admin = await RawClient.connect(proxy.port);
        clients.push(admin);
        for (let k = 0; k < SHARED_KEYS; k++) {
          const value = `init-${k}`;
          const r = await timedRequest(admin, `set ${keyName(k)} 0 0 ${value.length}\r\n${value}\r\n`);
          assert.equal(r.text, 'STORED\r\n');
          const w = { key: keyName(k), start: -2, end: -1 };
          writes.set(value, w);
          byKey.set(keyName(k), [w]);
        }
        const squashed = await poolCounter(admin, 'tot_gets_squashed');
        for (let i = 0; i < CLIENTS_UNDER_LOAD; i++) clients.push(await RawClient.connect(proxy.port));
        const deadline = performance.now() + LOAD_LIMIT_MS;
        const problems: string[] = [];
        let reads = 0;
        await Promise.all(
          clients.slice(1).map(async (c, ci) => {
            let seed = 0x9e3779b9 ^ (ci * 7919);
            const random = (n: number): number => {
              seed ^= seed << 13;
              seed ^= seed >>> 17;
              seed ^= seed << 5;
              return (seed >>> 0) % n;
            };
            for (let op = 0; op < OPS_PER_CLIENT && performance.now() < deadline; op++) {
              const key = keyName(random(SHARED_KEYS));
              if (random(10) < 3) {
                const value = `c${ci}-op${op}`;
                const w: Write = { key, start: performance.now(), end: Infinity };
                writes.set(value, w);
                byKey.get(key)!.push(w);
                const r = await timedRequest(c, `set ${key} 0 0 ${value.length}\r\n${value}\r\n`);
                w.end = performance.now();
                if (r.text !== 'STORED\r\n') problems.push(`set ${key}: ${r.text}`);
                continue;
              }
              const start = performance.now();
              const r = await timedRequest(c, `get ${key}\r\n`, retrievalDone);
              const end = performance.now();
              reads++;
              const values = parseValues(r.raw);
              if (values.length !== 1 || values[0].key !== key) {
                problems.push(`get ${key}: ${r.text}`);
                continue;
              }
              const w = writes.get(values[0].data.toString('latin1'));
              if (w === undefined || w.key !== key) {
                problems.push(`get ${key}: a value never written to it: ${r.text}`);
                continue;
              }
              if (w.start > end) problems.push(`get ${key} read a set sent after the get was answered`);
              const replaced = byKey.get(key)!.find((w2) => w2 !== w && w.end < w2.start && w2.end < start);
              if (replaced !== undefined) {
                problems.push(
                  `get ${key} by client ${ci} read ${values[0].data.toString('latin1')}, replaced before the get was sent`,
                );
              }
            }
          }),
        );
        assert.deepEqual(problems.slice(0, 10), []);
        assert.ok(reads > CLIENTS_UNDER_LOAD * 50, `only ${reads} gets`);
        const joined = (await poolCounter(admin, 'tot_gets_squashed')) - squashed;
        assert.ok(joined > 0, 'no get was squashed: the test checked nothing new');
      } finally {
        for (const c of clients) c.destroy();
        await proxy.stop();
        await Promise.all(servers.map((s) => s.stop()));
      }
    });
  }
});
