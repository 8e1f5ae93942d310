/**
 * moxi.ts in cluster mode fed by a REST server of our own (StubRestServer) whose configurations the
 * tests write, in front of scripted binary memcacheds (MockServer) or bin/moxi-cluster nodes:
 *
 *  - downstream: one SASL PLAIN login (bucket name / saslPassword) per connection before anything
 *    else, the key's vBucket id in every request;
 *  - live reconfiguration: servers added and removed and vBuckets moved take effect for new requests
 *    while a request in flight finishes, the client connection stays open, the surviving server keeps
 *    its connections and the removed one's are closed;
 *  - a bucket that leaves answers `SERVER_ERROR proxy out of downstreams` (clients stay connected)
 *    and serves again when it returns; an empty config body keeps the buckets; a config with no
 *    bucket at all: nothing listens (first config), or new connections are closed at once
 *    (default_bucket_name set);
 *  - vBucketMapForward: with a wrong map and the right forward map every key costs exactly one
 *    NOT_MY_VBUCKET; without the forward map moxi tries the next server (moxi-spec §5.1);
 *  - moxi's errors: timeouts (text `SERVER_ERROR proxy downstream timeout ...`, binary EBUSY
 *    `System is busy`), refused connections (`SERVER_ERROR proxy write to downstream ...`, binary
 *    EINTERNAL `Internal error`); a failed get is moxi's error text on a vBucket bucket and a miss on
 *    a memcached bucket.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  BinStatus,
  NodeClient,
  StubRestServer,
  ownerOf,
  startCluster,
  vbucketOf,
  type BucketJson,
  type ClusterHandle,
} from '../helpers/cluster.ts';
import {
  MockServer,
  QUIET_OPCODES,
  binReply,
  takeBinRequests,
  type MockConn,
} from '../helpers/mock-memcached.ts';
import { freePort } from '../helpers/ports.ts';
import type { MultiPortHandle } from '../helpers/processes.ts';
import {
  parseStats,
  pollUntil,
  retrievalDone,
  runMoxi,
  sleep,
  startClusterProxy,
  statsDone,
  timedRequest,
} from '../helpers/proxy.ts';
import {
  BinOp,
  RawClient,
  binRequest,
  binaryExchange,
  parseBinFrames,
  printable,
  storeExtras,
  type BinRequest,
  type BinResponse,
} from '../helpers/raw-client.ts';

const SUITE_TIMEOUT = { timeout: 60_000 };
const NUM_VBUCKETS = 16;
const OUT_OF_DOWNSTREAMS = 'SERVER_ERROR proxy out of downstreams\r\n';
const EBUSY = 0x85;
const EINTERNAL = 0x84;

const oneLine = (b: Buffer): boolean => b.indexOf('\r\n') >= 0;

// ---------------------------------------------------------------------------------------------
// A scripted binary memcached: a store, SASL PLAIN accepted, optional reply delay or silence

interface MockNode {
  readonly server: MockServer;
  readonly port: number;
  readonly store: Map<string, { value: Buffer; flags: number }>;
  /** Replies (except to SASL) are written after this many ms. */
  delayMs: number;
  /** Only SASL is answered; everything else never is. */
  hang: boolean;
  /** SASL_AUTH is answered after this many ms, with this status. */
  saslDelayMs: number;
  saslStatus: number;
  /** SASL_AUTH bodies seen, per connection index. */
  readonly logins: Map<number, string[]>;
  /** For each connection, the opcode of its first request. */
  readonly firstOpcode: Map<number, number>;
  /** vBucket id of every keyed request, by key. */
  readonly vbuckets: Map<string, number>;
}

function answer(node: MockNode, conn: MockConn): void {
  for (const req of takeBinRequests(conn)) {
    if (!node.firstOpcode.has(conn.index)) node.firstOpcode.set(conn.index, req.opcode);
    const key = req.key.toString('latin1');
    if (key !== '' && req.opcode !== BinOp.saslAuth) node.vbuckets.set(key, req.vbucket);
    let reply: Buffer | null = null;
    const quiet = QUIET_OPCODES.has(req.opcode);
    switch (req.opcode) {
      case BinOp.saslAuth: {
        const list = node.logins.get(conn.index) ?? [];
        list.push(req.value.toString('latin1'));
        node.logins.set(conn.index, list);
        const ok = node.saslStatus === 0;
        const auth = binReply({
          opcode: req.opcode,
          status: node.saslStatus,
          opaque: req.opaque,
          value: ok ? 'Authenticated' : 'Auth failure',
        });
        if (node.saslDelayMs > 0) {
          setTimeout(() => {
            conn.write(auth);
          }, node.saslDelayMs);
        } else conn.write(auth);
        continue;
      }
      case BinOp.set:
      case BinOp.setq:
        node.store.set(key, { value: Buffer.from(req.value), flags: req.extras.readUInt32BE(0) });
        if (!quiet) reply = binReply({ opcode: req.opcode, opaque: req.opaque, cas: 1n });
        break;
      case BinOp.get:
      case BinOp.getq:
      case BinOp.getk:
      case BinOp.getkq: {
        const hit = node.store.get(key);
        const withKey = req.opcode === BinOp.getk || req.opcode === BinOp.getkq;
        if (hit !== undefined) {
          const extras = Buffer.alloc(4);
          extras.writeUInt32BE(hit.flags, 0);
          reply = binReply({
            opcode: req.opcode,
            opaque: req.opaque,
            cas: 1n,
            extras,
            key: withKey ? key : undefined,
            value: hit.value,
          });
        } else if (!quiet) {
          reply = binReply({
            opcode: req.opcode,
            status: BinStatus.keyEnoent,
            opaque: req.opaque,
            key: withKey ? key : undefined,
            value: 'Not found',
          });
        }
        break;
      }
      default:
        if (!quiet) reply = binReply({ opcode: req.opcode, opaque: req.opaque });
    }
    if (reply === null || node.hang) continue;
    const bytes = reply;
    if (node.delayMs > 0) {
      setTimeout(() => {
        conn.write(bytes);
      }, node.delayMs);
    } else conn.write(bytes);
  }
}

async function startMockNode(): Promise<MockNode> {
  const ref: { node: MockNode | null } = { node: null };
  const server = await MockServer.start((conn) => {
    if (ref.node !== null) answer(ref.node, conn);
  });
  const node: MockNode = {
    server,
    port: server.port,
    store: new Map(),
    delayMs: 0,
    hang: false,
    saslDelayMs: 0,
    saslStatus: 0,
    logins: new Map(),
    firstOpcode: new Map(),
    vbuckets: new Map(),
  };
  ref.node = node;
  return node;
}

// ---------------------------------------------------------------------------------------------
// Configurations

function vbucketBucket(
  name: string,
  password: string,
  ports: readonly number[],
  owner: (vb: number) => number,
): object {
  return {
    name,
    bucketType: 'membase',
    authType: 'sasl',
    saslPassword: password,
    nodeLocator: 'vbucket',
    nodes: ports.map((p) => ({
      hostname: '127.0.0.1:8091',
      status: 'healthy',
      ports: { direct: p, proxy: 0 },
    })),
    vBucketServerMap: {
      hashAlgorithm: 'CRC',
      numReplicas: 0,
      serverList: ports.map((p) => `127.0.0.1:${p}`),
      vBucketMap: Array.from({ length: NUM_VBUCKETS }, (_, vb) => [owner(vb)]),
    },
  };
}

function ketamaBucket(name: string, ports: readonly number[]): object {
  return {
    name,
    bucketType: 'memcached',
    authType: 'sasl',
    saslPassword: '',
    nodeLocator: 'ketama',
    nodes: ports.map((p) => ({
      hostname: '127.0.0.1:8091',
      status: 'healthy',
      ports: { direct: p, proxy: 0 },
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// Talking to moxi.ts

async function text(c: RawClient, send: string, complete = oneLine, timeoutMs = 5000): Promise<string> {
  const r = await timedRequest(c, send, complete, timeoutMs);
  assert.ok(
    r.complete,
    `no complete reply to ${JSON.stringify(send)}: ${printable(r.raw)}${r.closed ? ' (closed)' : ''}`,
  );
  return r.text;
}

async function binOne(c: RawClient, req: BinRequest): Promise<BinResponse> {
  // (a long quiet period: moxi.ts's own error replies come after its timeouts)
  const ex = await binaryExchange(c, binRequest(req), { timeoutMs: 5000, quietMs: 4000 });
  assert.ok(ex.sentinelSeen, `no complete binary reply (closed ${ex.closed}): ${printable(ex.data, 500)}`);
  const { frames } = parseBinFrames(ex.data);
  assert.equal(frames.length, 1, `expected one frame: ${printable(ex.data, 500)}`);
  return frames[0];
}

/** `stats proxy` on a new connection to `port`, or on the connection `via`. */
async function statsProxy(port: number, via?: RawClient): Promise<Map<string, string>> {
  const c = via ?? (await RawClient.connect(port));
  try {
    return parseStats(await text(c, 'stats proxy\r\n', statsDone));
  } finally {
    if (via === undefined) c.destroy();
  }
}

/** Waits (bounded) until `stats proxy` satisfies `accept`. */
async function waitForStats(
  port: number,
  accept: (s: Map<string, string>) => boolean,
  what: string,
  via?: RawClient,
): Promise<void> {
  const ok = await pollUntil(async () => (accept(await statsProxy(port, via)) ? true : undefined), 5000, 30);
  assert.ok(ok, `moxi.ts never reached: ${what}`);
}

function startStubProxy(stub: StubRestServer, behaviors = '', path?: string): Promise<MultiPortHandle> {
  return startClusterProxy((port) => [
    '-z',
    `url=${stub.at(path)}`,
    '-Z',
    `port_listen=${port}${behaviors === '' ? '' : `,${behaviors}`}`,
  ]);
}

/** Keys in distinct vBuckets (of `n`), `count` of them. */
function keysInDistinctVBuckets(prefix: string, n: number, count: number): string[] {
  const seen = new Set<number>();
  const out: string[] = [];
  for (let i = 0; out.length < count && i < 100_000; i++) {
    const key = `${prefix}${i}`;
    const vb = vbucketOf(key, n);
    if (seen.has(vb)) continue;
    seen.add(vb);
    out.push(key);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

describe('cluster mode: live reconfiguration against scripted servers', SUITE_TIMEOUT, () => {
  let m1: MockNode;
  let m2: MockNode;
  let m3: MockNode;
  let stub: StubRestServer;
  let moxi: MultiPortHandle;
  const keys = Array.from({ length: 40 }, (_, i) => `live:${i}`);
  const owner = (ports: readonly number[], key: string): number => ports[vbucketOf(key, NUM_VBUCKETS) % 2];

  before(async () => {
    [m1, m2, m3] = await Promise.all([startMockNode(), startMockNode(), startMockNode()]);
    stub = await StubRestServer.start({
      document: { buckets: [vbucketBucket('default', '', [m1.port, m2.port], (vb) => vb % 2)] },
    });
    moxi = await startStubProxy(stub);
  });
  after(async () => {
    await moxi.stop();
    await stub.close();
    await Promise.all([m1, m2, m3].map((m) => m.server.close()));
  });

  it('logs in once per connection, before anything else, and sends the key’s vBucket id', async () => {
    const c = await RawClient.connect(moxi.port);
    try {
      for (const key of keys) assert.equal(await text(c, `set ${key} 3 0 2\r\nv1\r\n`), 'STORED\r\n');
      for (const key of keys) {
        const m = owner([m1.port, m2.port], key) === m1.port ? m1 : m2;
        assert.equal(m.store.get(key)?.value.toString(), 'v1', `${key} not on its owner`);
        assert.equal(m.vbuckets.get(key), vbucketOf(key, NUM_VBUCKETS), `${key}: vBucket id on the wire`);
      }
      // binary clients too (b2b), whatever vBucket id they wrote
      const b = await RawClient.connect(moxi.port);
      try {
        const r = await binOne(b, {
          opcode: BinOp.set,
          key: 'live:b2b',
          value: 'b',
          extras: storeExtras(0, 0),
          opaque: 0xcafe,
          vbucket: 0xfff,
        });
        assert.deepEqual([r.status, r.opaque], [0, 0xcafe]);
        const m = owner([m1.port, m2.port], 'live:b2b') === m1.port ? m1 : m2;
        assert.equal(m.vbuckets.get('live:b2b'), vbucketOf('live:b2b', NUM_VBUCKETS));
      } finally {
        b.destroy();
      }
      for (const m of [m1, m2]) {
        assert.ok(m.server.connections.length > 0);
        for (const conn of m.server.connections) {
          assert.deepEqual(m.logins.get(conn.index), ['\0default\0'], `logins on connection ${conn.index}`);
          assert.equal(m.firstOpcode.get(conn.index), BinOp.saslAuth, 'SASL_AUTH is not the first request');
        }
      }
    } finally {
      c.destroy();
    }
  });

  it('a new map takes effect live: in-flight request finishes, client stays, survivors keep connections', async () => {
    const c = await RawClient.connect(moxi.port);
    try {
      // warm: this client has connections to both servers
      assert.equal(
        await text(c, `get ${keys.join(' ')}\r\n`, retrievalDone).then((t) => t.endsWith('END\r\n')),
        true,
      );
      const m2Conns = m2.server.connections.length;
      const m1Key = keys.find((k) => owner([m1.port, m2.port], k) === m1.port)!;
      m1.delayMs = 300;
      const inFlight = timedRequest(c, `get ${m1Key}\r\n`, retrievalDone, 5000);
      await sleep(50);
      // m1 leaves, m3 joins, m2 moves from index 1 to 0: every vBucket changes server
      stub.publish({ buckets: [vbucketBucket('default', '', [m2.port, m3.port], (vb) => vb % 2)] });
      const r = await inFlight;
      assert.equal(
        r.text,
        `VALUE ${m1Key} 3 2\r\nv1\r\nEND\r\n`,
        `the request in flight: ${printable(r.raw)}`,
      );
      await waitForStats(
        moxi.port,
        (s) => s.get(`${moxi.port}:default:server-1:ident`) === `127.0.0.1:${m3.port}`,
        'the new map',
      );
      m1.delayMs = 0;
      for (const key of keys) assert.equal(await text(c, `set ${key} 4 0 2\r\nv2\r\n`), 'STORED\r\n');
      for (const key of keys) {
        const m = owner([m2.port, m3.port], key) === m2.port ? m2 : m3;
        assert.equal(m.store.get(key)?.value.toString(), 'v2', `${key} not on its new owner`);
      }
      assert.ok(!c.closed, 'the client connection was closed');
      assert.equal(m2.server.connections.length, m2Conns, 'moxi.ts reconnected to the surviving server');
      assert.ok(
        m2.server.connections.every((conn) => !conn.closed),
        'a connection to the surviving server was closed',
      );
      assert.ok(m3.server.connections.length > 0);
      const m1Closed = await m1.server.waitFor(
        () => m1.server.connections.every((conn) => conn.closed),
        5000,
      );
      assert.ok(m1Closed, 'the removed server’s connections were never closed');
    } finally {
      c.destroy();
    }
  });
  it('a request in flight to a server that leaves and hangs up goes where the new map routes it', async () => {
    const c = await RawClient.connect(moxi.port);
    try {
      const ports = [m2.port, m3.port];
      const key = keys.find((k) => owner(ports, k) === m3.port)!;
      m3.hang = true;
      const inFlight = timedRequest(c, `set ${key} 9 0 6\r\nmoved!\r\n`, oneLine, 5000);
      const sent = await m3.server.waitFor(
        () => m3.vbuckets.has(key) && m3.server.connections.some((x) => x.received.includes(`moved!`)),
        2000,
      );
      assert.ok(sent, 'the set never reached its owner');
      stub.publish({ buckets: [vbucketBucket('default', '', [m2.port], () => 0)] });
      await waitForStats(
        moxi.port,
        (st) => st.get(`${moxi.port}:default:server-1:ident`) === undefined,
        'the one-server map',
      );
      for (const conn of m3.server.connections) conn.destroy();
      const r = await inFlight;
      assert.equal(
        r.text,
        'STORED\r\n',
        `the request in flight: ${printable(r.raw)}${r.closed ? ' (closed)' : ''}`,
      );
      assert.equal(m2.store.get(key)?.value.toString(), 'moved!');
      assert.ok(!c.closed);
    } finally {
      m3.hang = false;
      c.destroy();
    }
  });
});

describe('cluster mode: buckets leave and return', SUITE_TIMEOUT, () => {
  let m1: MockNode;
  let stub: StubRestServer;
  let moxi: MultiPortHandle;
  const both = (): object => ({
    buckets: [
      vbucketBucket('default', '', [m1.port], () => 0),
      vbucketBucket('other', 'pw', [m1.port], () => 0),
    ],
  });
  const onlyOther = (): object => ({ buckets: [vbucketBucket('other', 'pw', [m1.port], () => 0)] });

  before(async () => {
    m1 = await startMockNode();
    stub = await StubRestServer.start({ document: both() });
    moxi = await startStubProxy(stub);
  });
  after(async () => {
    await moxi.stop();
    await stub.close();
    await m1.server.close();
  });

  it('a bucket that leaves answers out of downstreams to its clients, which stay connected', async () => {
    const t = await RawClient.connect(moxi.port);
    const d = await RawClient.connect(moxi.port);
    const o = await RawClient.connect(moxi.port);
    try {
      assert.equal(await text(t, 'set gone:k 0 0 3\r\nabc\r\n'), 'STORED\r\n');
      assert.equal(
        (await binOne(o, { opcode: BinOp.saslAuth, key: 'PLAIN', value: '\0other\0pw' })).status,
        0,
      );
      assert.equal((await binOne(d, { opcode: BinOp.noop })).status, 0);

      stub.publish(onlyOther());
      await waitForStats(
        moxi.port,
        (s) => s.get(`${moxi.port}:default:info:available`) === '0',
        'default gone',
      );

      assert.equal(await text(t, 'set gone:k 0 0 3\r\nxyz\r\n'), OUT_OF_DOWNSTREAMS);
      assert.equal(await text(t, 'get gone:k\r\n', retrievalDone), OUT_OF_DOWNSTREAMS);
      assert.equal(await text(t, 'get gone:k gone:j\r\n', retrievalDone), OUT_OF_DOWNSTREAMS);
      assert.equal(await text(t, 'delete gone:k\r\n'), OUT_OF_DOWNSTREAMS);
      const bin = await binOne(d, { opcode: BinOp.get, key: 'gone:k', opaque: 0x4242 });
      assert.equal(bin.opaque, 0x4242);
      assert.equal(
        bin.status,
        EINTERNAL,
        `binary request in a bucket that left: status 0x${bin.status.toString(16)}`,
      );
      assert.ok(!t.closed && !d.closed, 'a client of the bucket that left was closed');

      // the other bucket is untouched; new clients start in it (the first bucket left)
      assert.equal(
        (await binOne(o, { opcode: BinOp.set, key: 'other:k', value: 'o', extras: storeExtras(0, 0) }))
          .status,
        0,
      );
      const n = await RawClient.connect(moxi.port);
      assert.equal(await text(n, 'get other:k\r\n', retrievalDone), 'VALUE other:k 0 1\r\no\r\nEND\r\n');
      n.destroy();

      // it comes back: the same connections are served again
      stub.publish(both());
      await waitForStats(
        moxi.port,
        (s) => s.get(`${moxi.port}:default:info:available`) === '1',
        'default back',
      );
      assert.equal(await text(t, 'get gone:k\r\n', retrievalDone), 'VALUE gone:k 0 3\r\nabc\r\nEND\r\n');
      assert.equal((await binOne(d, { opcode: BinOp.get, key: 'gone:k' })).value.toString(), 'abc');
    } finally {
      t.destroy();
      d.destroy();
      o.destroy();
    }
  });

  it('an empty configuration body keeps the buckets in service', async () => {
    const t = await RawClient.connect(moxi.port);
    try {
      stub.setHandler((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end();
      });
      const asked = stub.requests.length;
      stub.dropStreams();
      const logged = await pollUntil(
        () =>
          Promise.resolve(
            moxi.output().includes('invalid, empty config from REST server') ? true : undefined,
          ),
        6000,
      );
      assert.ok(logged, `moxi.ts did not report the empty config:\n${moxi.output()}`);
      assert.ok(stub.requests.length > asked);
      assert.equal(await text(t, 'get gone:k\r\n', retrievalDone), 'VALUE gone:k 0 3\r\nabc\r\nEND\r\n');
    } finally {
      stub.setHandler(undefined);
      t.destroy();
    }
  });

  it('a configuration without buckets: clients get out of downstreams, new connections are closed', async () => {
    assert.ok(await stub.waitForStreams(1, 8000), 'moxi.ts did not come back to the REST server');
    const t = await RawClient.connect(moxi.port);
    try {
      assert.equal(await text(t, 'get gone:k\r\n', retrievalDone), 'VALUE gone:k 0 3\r\nabc\r\nEND\r\n');
      stub.publish({ buckets: [] });
      // (asked on the client's own connection: new ones are closed now)
      await waitForStats(
        moxi.port,
        (s) => s.get(`${moxi.port}:other:info:available`) === '0',
        'no bucket',
        t,
      );
      assert.equal(await text(t, 'get gone:k\r\n', retrievalDone), OUT_OF_DOWNSTREAMS);
      assert.ok(!t.closed);
      const n = await RawClient.connect(moxi.port).catch(() => null);
      if (n !== null) {
        const r = await timedRequest(n, 'get gone:k\r\n', retrievalDone, 2000);
        assert.ok(r.closed && r.raw.length === 0, `a new connection was served: ${printable(r.raw)}`);
        n.destroy();
      }
    } finally {
      t.destroy();
      stub.publish(both());
    }
  });
});

describe('cluster mode: a first configuration without buckets', SUITE_TIMEOUT, () => {
  let stub: StubRestServer;
  before(async () => {
    stub = await StubRestServer.start({ document: { buckets: [] } });
  });
  after(async () => {
    await stub.close();
  });

  it('without default_bucket_name nothing listens', async () => {
    const port = await freePort();
    const running = runMoxi(
      ['-l', '127.0.0.1', '-t', '1', '-Z', `port_listen=${port}`, '-z', `url=${stub.at()}`],
      {
        timeoutMs: 1500,
      },
    );
    assert.ok(await stub.waitForStreams(1, 1200), 'moxi.ts never asked for its configuration');
    await sleep(200);
    await assert.rejects(RawClient.connect(port), /ECONNREFUSED/);
    const run = await running;
    assert.equal(run.killed, true, `moxi.ts exited:\n${run.stderr}`);
  });

  it('with default_bucket_name every new connection is closed at once', async () => {
    const before = stub.requests.length;
    const moxi = await startStubProxy(stub, 'default_bucket_name=default');
    try {
      const asked = await pollUntil(
        () => Promise.resolve(stub.requests.length > before ? true : undefined),
        3000,
      );
      assert.ok(asked);
      await sleep(200);
      const c = await RawClient.connect(moxi.port);
      const r = await timedRequest(c, 'get k\r\n', retrievalDone, 2000);
      assert.ok(r.closed, `the connection was not closed: ${printable(r.raw)}`);
      assert.equal(r.raw.length, 0, `a reply was written: ${printable(r.raw)}`);
      c.destroy();
    } finally {
      await moxi.stop();
    }
  });
});

describe('cluster mode: vBucketMapForward', SUITE_TIMEOUT, () => {
  let cluster: ClusterHandle;
  let real: BucketJson;
  let stub: StubRestServer;
  let moxi: MultiPortHandle;

  /** The real config with every vBucket on the wrong node (owner + 1), and the real map as forward map. */
  function misdirected(withForward: boolean): BucketJson {
    const map = real.vBucketServerMap!;
    const n = map.serverList.length;
    return {
      ...real,
      vBucketServerMap: {
        ...map,
        vBucketMap: map.vBucketMap.map(([o]) => [(o + 1) % n]),
        ...(withForward ? { vBucketMapForward: map.vBucketMap } : {}),
      },
    };
  }

  before(async () => {
    cluster = await startCluster({ nodes: 3 });
    real = await cluster.bucketConfig('default');
    // a single bucket document (not {"buckets": [...]}), as bucketsStreamingConfig streams it
    stub = await StubRestServer.start({ document: misdirected(true) });
    moxi = await startStubProxy(stub, '', '/pools/default/bucketsStreamingConfig/default');
  });
  after(async () => {
    await moxi.stop();
    await stub.close();
    await cluster.stop();
  });

  async function nmvb(): Promise<number> {
    return Number((await statsProxy(moxi.port)).get(`${moxi.port}:default:pstd_stats:tot_retry_vbucket`));
  }

  async function checkOnOwners(keys: readonly string[], value: string): Promise<void> {
    for (const key of keys) {
      const o = ownerOf(real, key);
      const c = await NodeClient.connect(o.port);
      try {
        const r = await c.get(key, o.vbucket);
        assert.equal(r.value.toString(), value, `${key} on its owner ${o.port}`);
      } finally {
        c.close();
      }
    }
  }

  it('a NOT_MY_VBUCKET answer follows the forward map: one per vBucket', async () => {
    const numVBuckets = real.vBucketServerMap!.vBucketMap.length;
    const keys = keysInDistinctVBuckets('fwd:', numVBuckets, 12);
    const c = await RawClient.connect(moxi.port);
    try {
      const before = await nmvb();
      for (const key of keys) assert.equal(await text(c, `set ${key} 0 0 3\r\nfwd\r\n`), 'STORED\r\n');
      assert.equal((await nmvb()) - before, keys.length, 'NOT_MY_VBUCKET answers for the sets');
      await checkOnOwners(keys, 'fwd');
    } finally {
      c.destroy();
    }
  });

  it('without a forward map the next server is tried (owner + 1 -> + 2 -> + 3)', async () => {
    stub.publish(misdirected(false));
    await waitForStats(
      moxi.port,
      (s) => !(s.get(`${moxi.port}:default:info:config`) ?? '').includes('vBucketMapForward'),
      'the map without forward map',
    );
    const numVBuckets = real.vBucketServerMap!.vBucketMap.length;
    const keys = keysInDistinctVBuckets('nofwd:', numVBuckets, 12);
    const c = await RawClient.connect(moxi.port);
    try {
      const before = await nmvb();
      for (const key of keys) assert.equal(await text(c, `set ${key} 0 0 5\r\nnofwd\r\n`), 'STORED\r\n');
      assert.equal((await nmvb()) - before, 2 * keys.length, 'NOT_MY_VBUCKET answers for the sets');
      await checkOnOwners(keys, 'nofwd');
    } finally {
      c.destroy();
    }
  });
});

describe('cluster mode: moxi’s error replies', SUITE_TIMEOUT, () => {
  let hang: MockNode;
  let deadPort: number;
  let stub: StubRestServer;
  let moxi: MultiPortHandle;

  before(async () => {
    hang = await startMockNode();
    hang.hang = true;
    deadPort = await freePort();
    stub = await StubRestServer.start({
      document: { buckets: [vbucketBucket('default', '', [hang.port], () => 0)] },
    });
    moxi = await startStubProxy(stub, 'downstream_timeout=300,connect_max_errors=0');
  });
  after(async () => {
    await moxi.stop();
    await stub.close();
    await hang.server.close();
  });

  async function use(doc: object, accept: (config: string) => boolean, what: string): Promise<void> {
    stub.publish(doc);
    await waitForStats(moxi.port, (s) => accept(s.get(`${moxi.port}:default:info:config`) ?? ''), what);
  }

  it('a server that does not answer: downstream timeout (text), EBUSY (binary)', async () => {
    const t = await RawClient.connect(moxi.port);
    const b = await RawClient.connect(moxi.port);
    try {
      assert.equal(
        await text(t, 'set slow 0 0 1\r\nx\r\n'),
        'SERVER_ERROR proxy downstream timeout 127.0.0.1\r\n',
      );
      const r = await binOne(b, { opcode: BinOp.getk, key: 'slow', opaque: 0x5150 });
      assert.deepEqual(
        [r.opcode, r.status, r.opaque, r.value.toString()],
        [BinOp.getk, EBUSY, 0x5150, 'System is busy'],
      );
      // moxi-spec §6.5/§7.4: a failed get on a REST vBucket bucket answers the error text
      assert.equal(await text(t, 'get slow\r\n', retrievalDone), 'SERVER_ERROR proxy downstream timeout\r\n');
    } finally {
      t.destroy();
      b.destroy();
    }
  });

  it('a server that refuses connections: write to downstream (text), EINTERNAL (binary)', async () => {
    await use(
      { buckets: [vbucketBucket('default', '', [deadPort], () => 0)] },
      (config) => config.includes(`:${deadPort}"`),
      'the vBucket map on the dead port',
    );
    const t = await RawClient.connect(moxi.port);
    const b = await RawClient.connect(moxi.port);
    try {
      assert.equal(
        await text(t, 'set refused 0 0 1\r\nx\r\n'),
        'SERVER_ERROR proxy write to downstream 127.0.0.1\r\n',
      );
      const r = await binOne(b, {
        opcode: BinOp.set,
        key: 'refused',
        value: 'x',
        extras: storeExtras(0, 0),
        opaque: 0x600d,
      });
      assert.deepEqual(
        [r.opcode, r.status, r.opaque, r.value.toString()],
        [BinOp.set, EINTERNAL, 0x600d, 'Internal error'],
      );
      // a quiet get misses: a client's multi-get keeps reading up to its NOOP
      const quiet = await binaryExchange(b, binRequest({ opcode: BinOp.getkq, key: 'refused', opaque: 7 }));
      assert.ok(quiet.sentinelSeen && quiet.data.length === 0, `GETKQ + NOOP: ${printable(quiet.data)}`);
      assert.equal(
        await text(t, 'get refused\r\n', retrievalDone),
        'SERVER_ERROR proxy write to downstream\r\n',
      );
    } finally {
      t.destroy();
      b.destroy();
    }
  });

  for (const [what, slow, status] of [
    ['answers the SASL login after auth_timeout', 400, 0],
    ['refuses the SASL login', 0, 0x20],
  ] as const) {
    it(`a server that ${what}: the request fails as a connect failure`, async () => {
      const m = await startMockNode();
      m.saslDelayMs = slow;
      m.saslStatus = status;
      try {
        await use(
          { buckets: [vbucketBucket('default', '', [m.port], () => 0)] },
          (config) => config.includes(`:${m.port}"`),
          'the map on the mock',
        );
        const t = await RawClient.connect(moxi.port);
        const b = await RawClient.connect(moxi.port);
        try {
          assert.equal(
            await text(t, 'set auth 0 0 1\r\nx\r\n'),
            'SERVER_ERROR proxy write to downstream 127.0.0.1\r\n',
          );
          const r = await binOne(b, { opcode: BinOp.delete, key: 'auth', opaque: 0xa17 });
          assert.deepEqual([r.status, r.opaque, r.value.toString()], [EINTERNAL, 0xa17, 'Internal error']);
        } finally {
          t.destroy();
          b.destroy();
        }
        assert.ok(m.logins.size > 0, 'moxi.ts never tried to log in');
        for (const list of m.logins.values()) assert.deepEqual(list, ['\0default\0']);
        // nothing but the login was sent on those connections
        for (const conn of m.server.connections) {
          const opcodes = parseBinFrames(conn.received).frames.map((f) => f.opcode);
          assert.deepEqual(
            opcodes,
            [BinOp.saslAuth],
            `connection ${conn.index} sent ${JSON.stringify(opcodes)}`,
          );
        }
      } finally {
        await m.server.close();
      }
    });
  }

  it('on a memcached bucket a failed get is a miss', async () => {
    // (a memcached bucket's config text is its host list)
    await use(
      { buckets: [ketamaBucket('default', [deadPort])] },
      (config) => config === `127.0.0.1:${deadPort}`,
      'the memcached bucket on the dead port',
    );
    const t = await RawClient.connect(moxi.port);
    try {
      assert.equal(await text(t, 'get refused\r\n', retrievalDone), 'END\r\n');
      assert.equal(await text(t, 'get refused other\r\n', retrievalDone), 'END\r\n');
      assert.equal(
        await text(t, 'set refused 0 0 1\r\nx\r\n'),
        'SERVER_ERROR proxy write to downstream 127.0.0.1\r\n',
      );
    } finally {
      t.destroy();
    }
  });
});
