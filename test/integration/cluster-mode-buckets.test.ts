/**
 * moxi.ts in cluster mode in front of bin/moxi-cluster with several buckets (saslBucketsStreaming):
 *
 *  - SASL_LIST_MECHS / SASL_AUTH PLAIN move a binary client between buckets with different passwords;
 *    a wrong password or an unknown bucket is refused (AUTH_ERROR, body `Auth failure`) and the
 *    connection stays usable in the bucket it was in; the buckets' data are isolated (checked on the
 *    nodes themselves); text clients stay in the default bucket; memjs logs in from its server string;
 *  - b2b: keyed requests go to the key's owner with the right vBucket id whatever the client wrote
 *    there, replies carry the client's opaque; NOOP / VERSION / STAT / FLUSH / QUIT are answered per
 *    moxi-spec §6.9, FLUSH reaching only the client's bucket;
 *  - default_bucket_name: a bucket that does not exist is moxi's NULL bucket (text
 *    `SERVER_ERROR unauthorized, null bucket`, gets still `END`; binary AUTH_ERROR), listening before
 *    any configuration arrived; naming an existing bucket puts text clients there;
 *  - a memcached bucket (nodeLocator ketama): keys spread over the nodes, each on one node only;
 *  - `stats proxy` lists every bucket, with its password masked.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import memjs from 'memjs';
import {
  BinStatus,
  NodeClient,
  ownerOf,
  startCluster,
  type BucketJson,
  type ClusterHandle,
} from '../helpers/cluster.ts';
import { freePort } from '../helpers/ports.ts';
import type { MultiPortHandle } from '../helpers/processes.ts';
import { parseStats, retrievalDone, startClusterProxy, statsDone, timedRequest } from '../helpers/proxy.ts';
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
const ALPHA = { name: 'alpha', password: 'pw-alpha' } as const;
const BETA = { name: 'beta', password: 'pw-beta' } as const;
const SCRATCH = { name: 'scratch', password: 'pw-scratch' } as const;
const BUCKETS = `default,${ALPHA.name}:${ALPHA.password},${BETA.name}:${BETA.password},${SCRATCH.name}:${SCRATCH.password},cache`;
const AUTH_ERROR = 0x20;

const oneLine = (b: Buffer): boolean => b.indexOf('\r\n') >= 0;

/** Sends binary requests (plus a NOOP sentinel) and returns the reply frames, sentinel removed. */
async function binCall(c: RawClient, ...reqs: BinRequest[]): Promise<BinResponse[]> {
  const ex = await binaryExchange(c, Buffer.concat(reqs.map(binRequest)), { timeoutMs: 5000 });
  assert.ok(ex.sentinelSeen, `no complete binary reply (closed ${ex.closed}): ${printable(ex.data, 500)}`);
  const { frames, rest } = parseBinFrames(ex.data);
  assert.equal(rest.length, 0);
  return frames;
}

async function binOne(c: RawClient, req: BinRequest): Promise<BinResponse> {
  const frames = await binCall(c, req);
  assert.equal(frames.length, 1, `expected one reply frame, got ${frames.length}`);
  return frames[0];
}

function sasl(user: string, password: string, opaque = 7): BinRequest {
  return { opcode: BinOp.saslAuth, key: 'PLAIN', value: `\0${user}\0${password}`, opaque };
}

function setReq(key: string, value: string, flags = 0, opaque = 0, vbucket = 0): BinRequest {
  return { opcode: BinOp.set, key, value, extras: storeExtras(flags, 0), opaque, vbucket };
}

function getReq(key: string, opaque = 0, vbucket = 0): BinRequest {
  return { opcode: BinOp.get, key, opaque, vbucket };
}

async function text(c: RawClient, send: string, complete = oneLine): Promise<string> {
  const r = await timedRequest(c, send, complete, 5000);
  assert.ok(r.complete, `no complete reply to ${JSON.stringify(send)}: ${printable(r.raw)}`);
  return r.text;
}

describe('cluster mode: buckets, SASL and binary clients', SUITE_TIMEOUT, () => {
  let cluster: ClusterHandle;
  let moxi: MultiPortHandle;
  const configs = new Map<string, BucketJson>();
  const nodeConns: NodeClient[] = [];

  /** A direct connection to a node, logged in to `bucket`. */
  async function direct(port: number, bucket: string, password: string): Promise<NodeClient> {
    const c = await NodeClient.connect(port);
    nodeConns.push(c);
    if (bucket !== 'default') assert.equal(await c.saslAuth(bucket, password), BinStatus.success);
    return c;
  }

  /** The value of `key` in `bucket` on the node that owns it (null: not there). */
  async function onOwner(bucket: string, password: string, key: string): Promise<string | null> {
    const owner = ownerOf(configs.get(bucket)!, key);
    const c = await direct(owner.port, bucket, password);
    const r = await c.get(key, owner.vbucket);
    if (r.status === BinStatus.keyEnoent) return null;
    assert.equal(r.status, BinStatus.success, `${bucket} ${key} on ${owner.port}: status ${r.status}`);
    return r.value.toString();
  }

  before(async () => {
    cluster = await startCluster({ nodes: 3, buckets: BUCKETS, bucketTypes: ['cache=memcached'] });
    for (const b of ['default', ALPHA.name, BETA.name, SCRATCH.name, 'cache'])
      configs.set(b, await cluster.bucketConfig(b));
    moxi = await startClusterProxy((port) => [
      '-z',
      `url=${cluster.saslStreamingUrl()}`,
      '-Z',
      `port_listen=${port}`,
    ]);
  });
  after(async () => {
    for (const c of nodeConns) c.close();
    await moxi.stop();
    await cluster.stop();
  });

  it('SASL PLAIN selects the bucket; wrong credentials leave the connection where it was', async () => {
    const c = await RawClient.connect(moxi.port);
    const t = await RawClient.connect(moxi.port);
    try {
      const mechs = await binOne(c, { opcode: BinOp.saslListMechs, opaque: 0x1111 });
      assert.equal(mechs.status, 0);
      assert.equal(mechs.opaque, 0x1111);
      assert.equal(mechs.value.toString(), 'PLAIN');

      // starts in default
      assert.equal((await binOne(c, setReq('iso:k', 'in-default', 1))).status, 0);

      const a = await binOne(c, sasl(ALPHA.name, ALPHA.password, 0x2222));
      assert.deepEqual([a.status, a.opaque, a.value.toString()], [0, 0x2222, 'Authenticated']);
      assert.equal((await binOne(c, getReq('iso:k'))).status, BinStatus.keyEnoent, 'alpha sees default data');
      assert.equal((await binOne(c, setReq('iso:k', 'in-alpha', 2))).status, 0);

      // wrong password for beta, unknown bucket, wrong mechanism: refused, still in alpha
      for (const bad of [
        sasl(BETA.name, ALPHA.password, 0x3333),
        sasl('nosuchbucket', '', 0x3333),
        sasl(BETA.name, '', 0x3333),
        { ...sasl(BETA.name, BETA.password, 0x3333), key: 'CRAM-MD5' },
      ]) {
        const r = await binOne(c, bad);
        assert.equal(r.status, AUTH_ERROR, `refused login: status ${r.status}`);
        assert.equal(r.opaque, 0x3333);
        assert.equal(r.value.toString(), 'Auth failure');
        const still = await binOne(c, getReq('iso:k', 0x4444));
        assert.equal(still.opaque, 0x4444);
        assert.equal(still.value.toString(), 'in-alpha', 'the connection left alpha after a refused login');
      }

      const b = await binOne(c, sasl(BETA.name, BETA.password));
      assert.equal(b.status, 0);
      assert.equal((await binOne(c, getReq('iso:k'))).status, BinStatus.keyEnoent, 'beta sees alpha data');
      assert.equal((await binOne(c, setReq('iso:k', 'in-beta', 3))).status, 0);

      // back to default (empty password)
      assert.equal((await binOne(c, sasl('default', ''))).status, 0);
      assert.equal((await binOne(c, getReq('iso:k'))).value.toString(), 'in-default');

      // a text client is in default and stays there
      assert.equal(
        await text(t, 'get iso:k\r\n', retrievalDone),
        'VALUE iso:k 1 10\r\nin-default\r\nEND\r\n',
      );
      assert.ok(!c.closed && !t.closed);

      // the nodes hold one copy per bucket
      assert.equal(await onOwner('default', '', 'iso:k'), 'in-default');
      assert.equal(await onOwner(ALPHA.name, ALPHA.password, 'iso:k'), 'in-alpha');
      assert.equal(await onOwner(BETA.name, BETA.password, 'iso:k'), 'in-beta');
      assert.equal(await onOwner(SCRATCH.name, SCRATCH.password, 'iso:k'), null);
    } finally {
      c.destroy();
      t.destroy();
    }
  });

  it('memjs logs in from its server string and sees only its bucket', async () => {
    const beta = memjs.Client.create(`${BETA.name}:${BETA.password}@127.0.0.1:${moxi.port}`, {
      retries: 0,
      timeout: 5,
      logger: { log: () => undefined },
    });
    const plain = memjs.Client.create(`127.0.0.1:${moxi.port}`, {
      retries: 0,
      timeout: 5,
      logger: { log: () => undefined },
    });
    try {
      assert.equal((await beta.get('iso:k')).value?.toString(), 'in-beta');
      assert.equal(await beta.set('mj:beta', 'from-memjs'), true);
      assert.equal((await plain.get('mj:beta')).value, null);
      assert.equal(await onOwner(BETA.name, BETA.password, 'mj:beta'), 'from-memjs');
      const wrong = memjs.Client.create(`${BETA.name}:nope@127.0.0.1:${moxi.port}`, {
        retries: 0,
        timeout: 2,
        logger: { log: () => undefined },
      });
      try {
        await assert.rejects(wrong.get('iso:k'), /authentication failed/i);
      } finally {
        wrong.close();
      }
    } finally {
      beta.close();
      plain.close();
    }
  });

  it('b2b: the vBucket id is set, the opaque and the reply pass through', async () => {
    const c = await RawClient.connect(moxi.port);
    try {
      assert.equal((await binOne(c, sasl(ALPHA.name, ALPHA.password))).status, 0);
      const keys = Array.from({ length: 24 }, (_, i) => `b2b:${i}`);
      for (const [i, key] of keys.entries()) {
        // a deliberately wrong vBucket id in the header: moxi.ts must write the key's own
        const set = await binOne(c, setReq(key, `value-${i}`, 0xabc0 + i, 0xdead0000 + i, 0x3ff));
        assert.deepEqual(
          [set.magic, set.opcode, set.status, set.opaque],
          [0x81, BinOp.set, 0, 0xdead0000 + i],
        );
        assert.notEqual(set.cas, 0n);
        const get = await binOne(c, { opcode: BinOp.getk, key, opaque: 0xbeef0000 + i, vbucket: 0x3ff });
        assert.deepEqual(
          [get.status, get.opaque, get.key.toString(), get.value.toString()],
          [0, 0xbeef0000 + i, key, `value-${i}`],
        );
        assert.equal(get.extras.readUInt32BE(0), 0xabc0 + i);
        assert.equal(get.cas, set.cas);
        assert.equal(await onOwner(ALPHA.name, ALPHA.password, key), `value-${i}`);
      }
      // pipelined, quiet sets and gets: only the hits and the NOOP answer, each with its opaque
      const frames = await binCall(
        c,
        { opcode: BinOp.setq, key: 'b2b:q1', value: 'Q1', extras: storeExtras(0, 0), opaque: 51 },
        { opcode: BinOp.setq, key: 'b2b:q2', value: 'Q2', extras: storeExtras(0, 0), opaque: 52 },
        { opcode: BinOp.getkq, key: 'b2b:q1', opaque: 53 },
        { opcode: BinOp.getkq, key: 'b2b:missing', opaque: 54 },
        { opcode: BinOp.getkq, key: 'b2b:q2', opaque: 55 },
        { opcode: BinOp.noop, opaque: 56 },
      );
      assert.deepEqual(
        frames.map((f) => [f.opcode, f.status, f.opaque, f.key.toString(), f.value.toString()]),
        [
          [BinOp.getkq, 0, 53, 'b2b:q1', 'Q1'],
          [BinOp.getkq, 0, 55, 'b2b:q2', 'Q2'],
          [BinOp.noop, 0, 56, '', ''],
        ],
      );
    } finally {
      c.destroy();
    }
  });

  it('b2b: NOOP, VERSION and STAT are answered with the client opcode and opaque', async () => {
    const c = await RawClient.connect(moxi.port);
    try {
      const noop = await binOne(c, { opcode: BinOp.noop, opaque: 0x01020304 });
      assert.deepEqual([noop.opcode, noop.status, noop.opaque, noop.bodylen], [BinOp.noop, 0, 0x01020304, 0]);
      const version = await binOne(c, { opcode: BinOp.version, opaque: 9 });
      assert.deepEqual([version.status, version.opaque], [0, 9]);
      assert.match(version.value.toString(), /^\d+\.\d+\.\d+/);
      const stats = await binCall(c, { opcode: BinOp.stat, opaque: 0x77 });
      assert.ok(stats.length > 5, 'too few stat frames');
      for (const f of stats) assert.deepEqual([f.opcode, f.status, f.opaque], [BinOp.stat, 0, 0x77]);
      const last = stats[stats.length - 1];
      assert.equal(last.keylen + last.bodylen, 0, 'the STAT reply ends with an empty frame');
      const names = new Set(stats.map((f) => f.key.toString()));
      for (const n of ['pid', 'uptime', 'curr_items', 'cmd_get']) assert.ok(names.has(n), `no ${n} stat`);
      const step = await binOne(c, { opcode: BinOp.saslStep, key: 'PLAIN', value: 'x', opaque: 0x22 });
      assert.deepEqual([step.status, step.opaque, step.value.toString()], [AUTH_ERROR, 0x22, 'Auth failure']);
    } finally {
      c.destroy();
    }
  });

  it('b2b: STAT "proxy buckets" is answered locally with the per-bucket stats (moxi-spec §6.8, §6.9)', async () => {
    const c = await RawClient.connect(moxi.port);
    try {
      const frames = await binCall(c, { opcode: BinOp.stat, key: 'proxy buckets', opaque: 0x78 });
      for (const f of frames) assert.deepEqual([f.opcode, f.status, f.opaque], [BinOp.stat, 0, 0x78]);
      const last = frames[frames.length - 1];
      assert.equal(last.keylen + last.bodylen, 0, 'the STAT reply ends with an empty frame');
      const names = frames.map((f) => f.key.toString());
      for (const b of ['default', ALPHA.name, 'cache'])
        assert.ok(
          names.some((n) => n.startsWith(`${moxi.port}:${b}:`)),
          `no ${moxi.port}:${b}:* stat in: ${names.slice(0, 20).join(', ')}`,
        );
    } finally {
      c.destroy();
    }
  });

  it('text stats are gathered from every node of the bucket', async () => {
    const c = await RawClient.connect(moxi.port);
    try {
      const stats = parseStats(await text(c, 'stats\r\n', statsDone));
      assert.ok(stats.has('curr_items') && stats.has('pid'), 'stats without curr_items or pid');
    } finally {
      c.destroy();
    }
  });

  it('b2b: FLUSH empties the client’s bucket only; QUIT answers and closes', async () => {
    const c = await RawClient.connect(moxi.port);
    try {
      assert.equal((await binOne(c, sasl(SCRATCH.name, SCRATCH.password))).status, 0);
      const keys = Array.from({ length: 16 }, (_, i) => `flush:${i}`);
      for (const k of keys) assert.equal((await binOne(c, setReq(k, 'x'))).status, 0);
      const d = await RawClient.connect(moxi.port);
      assert.equal(await text(d, 'set flush:0 0 0 7\r\nkeep-me\r\n'), 'STORED\r\n');
      d.destroy();

      const flush = await binOne(c, { opcode: BinOp.flush, opaque: 0xf1 });
      assert.deepEqual([flush.opcode, flush.status, flush.opaque], [BinOp.flush, 0, 0xf1]);
      for (const k of keys) {
        assert.equal((await binOne(c, getReq(k))).status, BinStatus.keyEnoent, `${k} survived FLUSH`);
        assert.equal(await onOwner(SCRATCH.name, SCRATCH.password, k), null);
      }
      assert.equal(await onOwner('default', '', 'flush:0'), 'keep-me', 'FLUSH reached another bucket');

      await c.send(binRequest({ opcode: BinOp.quit, opaque: 0x99 }));
      const r = await c.read({ until: () => false, timeoutMs: 2000 });
      assert.ok(r.closed, 'QUIT did not close the connection');
      const { frames } = parseBinFrames(r.data);
      assert.deepEqual(
        frames.map((f) => [f.opcode, f.status, f.opaque]),
        [[BinOp.quit, 0, 0x99]],
      );
    } finally {
      c.destroy();
    }
  });

  it('a memcached bucket (ketama): keys spread over the nodes, each on one node only', async () => {
    const c = await RawClient.connect(moxi.port);
    try {
      assert.equal((await binOne(c, sasl('cache', ''))).status, 0);
      const keys = Array.from({ length: 60 }, (_, i) => `ketama:${i}`);
      for (const k of keys) assert.equal((await binOne(c, setReq(k, `v-${k}`))).status, 0);
      for (const k of keys) assert.equal((await binOne(c, getReq(k))).value.toString(), `v-${k}`);
      const config = configs.get('cache')!;
      assert.equal(config.nodeLocator, 'ketama');
      const perNode = new Map<number, number>();
      for (const node of config.nodes) {
        const n = await direct(node.ports.direct, 'cache', '');
        let count = 0;
        for (const k of keys) if ((await n.get(k, 0)).status === 0) count++;
        perNode.set(node.ports.direct, count);
      }
      const counts = [...perNode.values()];
      assert.equal(
        counts.reduce((a, b) => a + b, 0),
        keys.length,
        `each key on exactly one node: ${JSON.stringify([...perNode])}`,
      );
      assert.ok(counts.filter((n) => n > 0).length >= 2, `keys not spread: ${JSON.stringify([...perNode])}`);
    } finally {
      c.destroy();
    }
  });

  it('stats proxy lists every bucket, passwords masked', async () => {
    const c = await RawClient.connect(moxi.port);
    try {
      const out = await text(c, 'stats proxy\r\n', statsDone);
      const stats = parseStats(out);
      const p = moxi.port;
      assert.equal(stats.get('proxy_main:conf_type'), 'dynamic');
      for (const b of ['default', ALPHA.name, BETA.name, SCRATCH.name, 'cache']) {
        assert.equal(stats.get(`${p}:${b}:info:name`), b, `bucket ${b} missing from stats proxy`);
        assert.equal(stats.get(`${p}:${b}:info:port`), String(p));
      }
      for (const pw of [ALPHA.password, BETA.password, SCRATCH.password])
        assert.ok(!out.includes(pw), `stats proxy shows the password ${pw}`);
      assert.match(stats.get(`${p}:${ALPHA.name}:info:config`) ?? '', /"saslPassword":"X{8}"/);
      // moxi's configuration counters: documents received, buckets started, each bucket's version
      assert.ok(Number(stats.get('proxy_main:stats:stat_configs')) >= 1);
      assert.equal(stats.get('proxy_main:stats:stat_config_fails'), '0');
      assert.ok(Number(stats.get('proxy_main:stats:stat_proxy_starts')) >= 5);
      assert.ok(Number(stats.get(`${p}:${ALPHA.name}:info:config_ver`)) >= 1);
      assert.ok(Number(stats.get(`${p}:${ALPHA.name}:info:behaviors_num`)) >= 1);
      assert.equal(stats.get(`${p}:${ALPHA.name}:stats:listening`), '1');
      assert.equal(stats.get('memcached:settings:maxconns'), '1024');
      assert.ok(Number(stats.get('memcached:stats:curr_connections')) >= 1);
      // a text client cannot log in to a SASL bucket, so meta commands are refused there
      assert.equal(
        await text(c, 'mg iso:k v\r\n'),
        'SERVER_ERROR meta commands are not available on a SASL bucket\r\n',
      );
    } finally {
      c.destroy();
    }
  });

  describe('default_bucket_name', () => {
    it('a missing bucket is the NULL bucket: text and binary refused, gets answer END', async () => {
      const nul = await startClusterProxy((port) => [
        '-z',
        `url=${cluster.saslStreamingUrl()}`,
        '-Z',
        `port_listen=${port},default_bucket_name=nosuch`,
      ]);
      const t = await RawClient.connect(nul.port);
      const b = await RawClient.connect(nul.port);
      try {
        const nullBucket = 'SERVER_ERROR unauthorized, null bucket\r\n';
        assert.equal(await text(t, 'set iso:k 0 0 1\r\nx\r\n'), nullBucket);
        assert.equal(await text(t, 'get iso:k\r\n', retrievalDone), 'END\r\n');
        assert.equal(await text(t, 'get iso:k iso:j\r\n', retrievalDone), 'END\r\n');
        assert.equal(await text(t, 'gets iso:k\r\n', retrievalDone), 'END\r\n');
        assert.equal(await text(t, 'delete iso:k\r\n'), nullBucket);
        assert.equal(await text(t, 'incr iso:k 1\r\n'), nullBucket);
        assert.equal(await text(t, 'touch iso:k 10\r\n'), nullBucket);
        assert.match(await text(t, 'version\r\n'), /^VERSION /);
        assert.ok(!t.closed, 'the NULL bucket closed a text client');

        for (const req of [getReq('iso:k', 0x51), setReq('iso:k', 'x', 0, 0x52)]) {
          const r = await binOne(b, req);
          assert.deepEqual(
            [r.opcode, r.status, r.opaque, r.value.toString()],
            [req.opcode, AUTH_ERROR, req.opaque, 'Auth failure'],
          );
        }
        assert.equal((await binOne(b, { opcode: BinOp.noop, opaque: 3 })).status, 0);
        // a login leaves the NULL bucket
        assert.equal((await binOne(b, sasl(ALPHA.name, ALPHA.password))).status, 0);
        assert.equal((await binOne(b, getReq('iso:k'))).value.toString(), 'in-alpha');
      } finally {
        t.destroy();
        b.destroy();
        await nul.stop();
      }
    });

    it('listens at once, before any configuration, in the NULL bucket', async () => {
      const nowhere = `http://127.0.0.1:${await freePort()}/pools/default/saslBucketsStreaming`;
      const nul = await startClusterProxy((port) => [
        '-z',
        `url=${nowhere}`,
        '-Z',
        `port_listen=${port},default_bucket_name=default`,
      ]);
      try {
        const t = await RawClient.connect(nul.port);
        assert.equal(await text(t, 'set k 0 0 1\r\nx\r\n'), 'SERVER_ERROR unauthorized, null bucket\r\n');
        assert.equal(await text(t, 'get k\r\n', retrievalDone), 'END\r\n');
        t.destroy();
      } finally {
        await nul.stop();
      }
    });

    it('an existing bucket is where text clients start', async () => {
      const m = await startClusterProxy((port) => [
        '-z',
        `url=${cluster.saslStreamingUrl()}`,
        '-Z',
        `port_listen=${port},default_bucket_name=${BETA.name}`,
      ]);
      try {
        const t = await RawClient.connect(m.port);
        assert.equal(await text(t, 'get iso:k\r\n', retrievalDone), 'VALUE iso:k 3 7\r\nin-beta\r\nEND\r\n');
        assert.equal(await text(t, 'set dbn:k 0 0 4\r\nbeta\r\n'), 'STORED\r\n');
        t.destroy();
        assert.equal(await onOwner(BETA.name, BETA.password, 'dbn:k'), 'beta');
        assert.equal(await onOwner('default', '', 'dbn:k'), null);
      } finally {
        await m.stop();
      }
    });
  });
});
