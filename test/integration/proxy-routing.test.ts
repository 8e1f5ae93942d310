/**
 * Key placement: every key written through moxi.ts must land on the server that moxi (libmemcached's
 * ketama / libvbucket's CRC map) would pick, and nowhere else. Each key is read back DIRECTLY from
 * every backend memcached. The expected server comes from src/routing (KetamaRouter, VBucketRouter),
 * which the unit tests check against libmemcached 1.1.4 and the spec's vectors; the vectors are
 * re-checked here first so that a wrong model fails loudly before any proxy is blamed.
 *
 * Also: several pools on several ports, the default port 11211 (and its `host-i` point names, when
 * 127.0.0.2/127.0.0.3:11211 can be bound), vBucket maps, and NOT_MY_VBUCKET retries (a mock server
 * that refuses every vBucket; the vBucket id must be in the binary header).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseVBucketServerMap } from '../../src/config/vbucket-map.ts';
import { Distribution, KetamaRouter, type KetamaServer } from '../../src/routing/ketama.ts';
import { VBucketRouter } from '../../src/routing/vbucket.ts';
import { canBind } from '../helpers/ports.ts';
import { startMemcached, startMemcachedAt, type ServerHandle } from '../helpers/processes.ts';
import {
  BinOp,
  RawClient,
  binRequest,
  binaryExchange,
  parseBinFrames,
  printable,
  storeExtras,
} from '../helpers/raw-client.ts';
import {
  BinStatus,
  MockServer,
  binReply,
  binRequestsOf,
  takeBinRequests,
  type MockConn,
} from '../helpers/mock-memcached.ts';
import {
  DownstreamProtocols,
  behaviorsFor,
  countReplies,
  describeExchange,
  directGetMany,
  hostList,
  parseValues,
  pathName,
  requestOnce,
  retrievalDone,
  startProxy,
  timedRequest,
  vbucketJson,
  type DownstreamProtocol,
  type ProxyHandle,
} from '../helpers/proxy.ts';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Keys to place: plain, spec vector keys, high bytes, a 250-byte key. All latin1 strings. */
function placementKeys(prefix: string, n = 240): string[] {
  const keys = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  keys.push('hello', 'foo', 'k0', 'k1', 'user:1234', 'another-key');
  keys.push(Buffer.from(`${prefix}clé-ünïcode`, 'utf8').toString('latin1'));
  keys.push(`${prefix}\x80\xff\xfe\x7f`);
  keys.push(`${prefix}${'L'.repeat(250 - prefix.length)}`);
  return keys;
}

/** Writes every key through the proxy (value = "v:" + key, flags = index), pipelined, all STORED. */
async function writeThrough(proxyPort: number, keys: readonly string[]): Promise<void> {
  const c = await RawClient.connect(proxyPort);
  try {
    for (let i = 0; i < keys.length; i += 60) {
      const chunk = keys.slice(i, i + 60);
      const payload = chunk.map((k, j) => `set ${k} ${i + j} 0 ${k.length + 2}\r\nv:${k}\r\n`).join('');
      const r = await timedRequest(c, payload, (buf) => countReplies(buf) >= chunk.length, 10_000);
      assert.equal(
        r.text,
        'STORED\r\n'.repeat(chunk.length),
        `pipelined sets through the proxy on ${proxyPort}:\n${describeExchange(payload.slice(0, 400), r)}`,
      );
    }
  } finally {
    c.destroy();
  }
}

/** Reads every key back through the proxy in multi-gets of 40: all present, in the order asked. */
async function readThrough(proxyPort: number, keys: readonly string[]): Promise<void> {
  const c = await RawClient.connect(proxyPort);
  try {
    for (let i = 0; i < keys.length; i += 40) {
      const chunk = keys.slice(i, i + 40);
      const payload = `get ${chunk.join(' ')}\r\n`;
      const r = await timedRequest(c, payload, retrievalDone, 10_000);
      let values;
      try {
        values = parseValues(r.raw);
      } catch (err) {
        assert.fail(
          `multi-get through the proxy: ${(err as Error).message}\n${describeExchange(payload, r)}`,
        );
      }
      assert.deepEqual(
        values.map((v) => v.key),
        chunk,
        `multi-get through the proxy must return every key, in the client's order\n${describeExchange(payload, r)}`,
      );
      for (const v of values) assert.equal(v.data.toString('latin1'), `v:${v.key}`);
    }
  } finally {
    c.destroy();
  }
}

/** Which backends hold each key, read directly; fails listing the misplaced keys. */
async function assertPlacement(
  what: string,
  backends: readonly ServerHandle[],
  keys: readonly string[],
  expectedIndex: (key: string) => number,
  proxy: ProxyHandle,
): Promise<void> {
  const held = await Promise.all(backends.map((s) => directGetMany(s, keys)));
  const wrong: string[] = [];
  const perServer = backends.map(() => 0);
  for (const k of keys) {
    const holders = held.flatMap((m, i) => (m.has(k) ? [i] : []));
    const exp = expectedIndex(k);
    if (holders.length === 1 && holders[0] === exp) perServer[exp]++;
    else
      wrong.push(`  key ${printable(b(k), 80)}: expected on server ${exp}, found on [${holders.join(', ')}]`);
    for (const i of holders) {
      const v = held[i].get(k);
      if (v !== undefined && v.data.toString('latin1') !== `v:${k}`) {
        wrong.push(`  key ${printable(b(k), 80)} on server ${i} has value ${printable(v.data, 80)}`);
      }
    }
  }
  assert.deepEqual(
    wrong,
    [],
    `${what}: ${wrong.length} of ${keys.length} keys misplaced (servers: ${backends
      .map((s, i) => `${i}=${s.host}:${s.port}`)
      .join(' ')}; proxy -z '${proxy.config}')\n${wrong.slice(0, 15).join('\n')}`,
  );
  // sanity: the keys spread over every server (else the check proves little)
  for (let i = 0; i < backends.length; i++)
    assert.ok(perServer[i] > 0, `${what}: no key landed on server ${i}`);
}

async function flushAll(servers: readonly ServerHandle[]): Promise<void> {
  await Promise.all(servers.map((s) => requestOnce(s, 'flush_all\r\n')));
}

function ketama(
  servers: readonly ServerHandle[],
  weights?: readonly number[],
  d?: Distribution,
): KetamaRouter {
  const list: KetamaServer[] = servers.map((s, i) => ({
    host: '127.0.0.1',
    port: s.port,
    weight: weights?.[i] ?? 0,
  }));
  return new KetamaRouter(list, d);
}

// ---------------------------------------------------------------------------------------------

describe('routing model: spec §5.1 / §5.4 vectors (checks the expectations, not the proxy)', () => {
  it('ketama-weighted, servers on non-default ports', () => {
    const r = new KetamaRouter([11421, 11422, 11423].map((port) => ({ host: '127.0.0.1', port })));
    const got = ['hello', 'foo', 'k0', 'k1', 'user:1234'].map((k) => r.servers[r.serverIndex(b(k))].port);
    assert.deepEqual(got, [11421, 11422, 11423, 11423, 11423]);
  });

  it('ketama-weighted, port 11211 hashes "host-i"', () => {
    const r = new KetamaRouter(['10.0.0.1', '10.0.0.2'].map((host) => ({ host, port: 11211 })));
    const got = ['hello', 'foo', 'k0', 'k1', 'user:1234'].map((k) => r.servers[r.serverIndex(b(k))].host);
    assert.deepEqual(got, ['10.0.0.2', '10.0.0.2', '10.0.0.1', '10.0.0.1', '10.0.0.1']);
  });

  it('vBucket ids: CRC32 >> 16 & 0x7fff, masked', () => {
    const table: [string, number, number, number, number][] = [
      ['hello', 0, 0, 16, 528],
      ['doctor', 0, 0, 0, 960],
      ['name', 3, 3, 35, 547],
      ['continue', 3, 3, 35, 995],
      ['yesterday', 0, 4, 52, 308],
      ['tomorrow', 1, 9, 9, 393],
      ['another key', 2, 2, 34, 162],
      ['foo', 3, 3, 51, 115],
      ['user:1234', 0, 0, 48, 176],
    ];
    for (const [i, n] of [4, 16, 64, 1024].entries()) {
      const map = parseVBucketServerMap(vbucketJson([{ port: 1 }], Array<number>(n).fill(0)));
      const r = new VBucketRouter(map);
      for (const row of table)
        assert.equal(r.vbucketOf(b(row[0])), row[1 + i], `${row[0]} with ${n} vBuckets`);
    }
  });
});

for (const protocol of [DownstreamProtocols.binary, DownstreamProtocols.ascii] as DownstreamProtocol[]) {
  describe(`key placement through moxi.ts (${pathName(protocol)}), read back directly`, () => {
    let mcs: ServerHandle[] = [];
    before(async () => {
      mcs = await Promise.all([0, 1, 2].map(() => startMemcached({ memoryMb: 64 })));
    });
    after(async () => {
      await Promise.all(mcs.map((m) => m.stop()));
    });

    const cases: { name: string; weights?: number[]; opts?: string; d?: Distribution }[] = [
      { name: 'ketama-weighted (default), equal weights' },
      { name: 'ketama-weighted, weights 1:3:6 (host:port:weight)', weights: [1, 3, 6] },
      { name: 'mcs_opts=distribution:ketama', opts: 'mcs_opts=distribution:ketama', d: Distribution.KETAMA },
      { name: 'mcs_opts=distribution:modula', opts: 'mcs_opts=distribution:modula', d: Distribution.MODULA },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        await flushAll(mcs);
        const proxy = await startProxy((p) => `${p[0]}=${hostList(mcs, c.weights)}`, {
          behaviors: behaviorsFor(protocol, c.opts ?? ''),
        });
        try {
          const keys = placementKeys(`${c.d ?? 'kw'}:${c.weights ? 'w' : ''}:`);
          await writeThrough(proxy.port, keys);
          const model = ketama(mcs, c.weights, c.d);
          await assertPlacement(c.name, mcs, keys, (k) => model.serverIndex(b(k)), proxy);
          await readThrough(proxy.port, keys);
        } finally {
          await proxy.stop();
        }
      });
    }

    it('several pools on several ports (-z "P1=a,b;P2=c")', async () => {
      await flushAll(mcs);
      const proxy = await startProxy(
        (p) => `${p[0]}=${hostList(mcs.slice(0, 2))};${p[1]}=${hostList(mcs.slice(2))}`,
        { behaviors: behaviorsFor(protocol), portCount: 2 },
      );
      try {
        const keys1 = placementKeys('pool1:', 120);
        const keys2 = placementKeys('pool2:', 60).filter((k) => k.startsWith('pool2:'));
        await writeThrough(proxy.poolPorts[0], keys1);
        await writeThrough(proxy.poolPorts[1], keys2);
        const model = ketama(mcs.slice(0, 2));
        await assertPlacement(
          'pool 1 (two servers)',
          mcs.slice(0, 2),
          keys1,
          (k) => model.serverIndex(b(k)),
          proxy,
        );
        const onThird = await directGetMany(mcs[2], [...keys1, ...keys2]);
        assert.deepEqual(
          [...onThird.keys()].sort(),
          [...keys2].sort(),
          `pool 2's keys must all be on its only server (${mcs[2].port}) and pool 1's never`,
        );
        await readThrough(proxy.poolPorts[1], keys2);
      } finally {
        await proxy.stop();
      }
    });

    it('vBucket JSON pool: CRC32 -> vBucket -> master', async () => {
      await flushAll(mcs);
      const map = [0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 1, 1, 1, 1, 0, 0];
      const json = vbucketJson(mcs.slice(0, 2), map);
      const proxy = await startProxy((p) => `${p[0]}=${json}`, { behaviors: behaviorsFor(protocol) });
      try {
        const keys = placementKeys('vb:');
        await writeThrough(proxy.port, keys);
        const model = new VBucketRouter(parseVBucketServerMap(json));
        await assertPlacement(
          'vBucket map of 16',
          mcs.slice(0, 2),
          keys,
          (k) => model.serverIndex(b(k)),
          proxy,
        );
        await readThrough(proxy.port, keys);
      } finally {
        await proxy.stop();
      }
    });
  });
}

describe('default server port 11211 (needs 127.0.0.2:11211 and 127.0.0.3:11211 free)', () => {
  it('a host without a port means 11211, and ketama hashes "host-i" for it', async (t) => {
    const hosts = ['127.0.0.2', '127.0.0.3'];
    for (const h of hosts) {
      if (!(await canBind(11211, h))) {
        t.skip(`${h}:11211 cannot be bound here`);
        return;
      }
    }
    const mcs: ServerHandle[] = [];
    try {
      for (const h of hosts) mcs.push(await startMemcachedAt(11211, { memoryMb: 16 }, h));
    } catch (err) {
      await Promise.all(mcs.map((m) => m.stop()));
      t.skip(`could not start memcached on port 11211: ${(err as Error).message.split('\n')[0]}`);
      return;
    }
    try {
      const proxy = await startProxy((p) => `${p[0]}=127.0.0.2,127.0.0.3:11211`);
      try {
        const keys = placementKeys('dflt:');
        await writeThrough(proxy.port, keys);
        const model = new KetamaRouter(hosts.map((host) => ({ host, port: 11211 })));
        await assertPlacement(
          'default port, host-i point names',
          mcs,
          keys,
          (k) => model.serverIndex(b(k)),
          proxy,
        );
      } finally {
        await proxy.stop();
      }
    } finally {
      await Promise.all(mcs.map((m) => m.stop()));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// NOT_MY_VBUCKET (binary downstream only: text servers have no vBuckets)

/** A binary mock that answers NOT_MY_VBUCKET to every keyed request and success to NOOP. */
function nmvbHandler(conn: MockConn): void {
  let reqs;
  try {
    reqs = takeBinRequests(conn);
  } catch {
    conn.destroy(); // not binary: the test's assertions on received bytes will say so
    return;
  }
  for (const r of reqs) {
    if (r.opcode === BinOp.noop) conn.write(binReply({ opcode: r.opcode, opaque: r.opaque }));
    else
      conn.write(
        binReply({
          opcode: r.opcode,
          opaque: r.opaque,
          status: BinStatus.notMyVBucket,
          value: 'Not my vbucket',
        }),
      );
  }
}

function keyedRequests(mock: MockServer, key: string): { vbucket: number; opcode: number }[] {
  return mock.connections.flatMap((c) =>
    binRequestsOf(c)
      .filter((r) => r.key.toString('latin1') === key)
      .map((r) => ({ vbucket: r.vbucket, opcode: r.opcode })),
  );
}

describe('NOT_MY_VBUCKET (a2b)', () => {
  let mc: ServerHandle;
  before(async () => {
    mc = await startMemcached({ memoryMb: 16 });
  });
  after(async () => {
    await mc.stop();
  });

  it('is retried on the next server, with the vBucket id in the request header', async () => {
    const mock = await MockServer.start(nmvbHandler);
    const json = vbucketJson([mock, mc], [0, 0, 0, 0]);
    const proxy = await startProxy((p) => `${p[0]}=${json}`, { behaviors: behaviorsFor('binary') });
    try {
      const router = new VBucketRouter(parseVBucketServerMap(json));
      const keys = ['nmvb:a', 'nmvb:b', 'nmvb:c', 'hello', 'name'];
      const learned = new Set<number>();
      for (const k of keys) {
        const send = `set ${k} 3 0 ${k.length}\r\n${k}\r\n`;
        const r = await requestOnce(proxy, send);
        assert.equal(
          r.text,
          'STORED\r\n',
          `the mock (server 0) refuses every vBucket; the set must be retried on memcached (server 1)\n${describeExchange(send, r)}`,
        );
        const seen = keyedRequests(mock, k);
        const vb = router.vbucketOf(b(k));
        // The first key of a vBucket must go to the map's master; after its NOT_MY_VBUCKET the proxy
        // may have learned the new master (spec §5.1) and go straight there.
        if (!learned.has(vb))
          assert.ok(
            seen.length >= 1,
            `the proxy never asked server 0 (the map's master of vBucket ${vb}) for ${k}`,
          );
        learned.add(vb);
        for (const s of seen) {
          assert.equal(s.vbucket, router.vbucketOf(b(k)), `vBucket id in the header of the request for ${k}`);
        }
      }
      const direct = await directGetMany(mc, keys);
      assert.deepEqual(
        [...direct.keys()].sort(),
        [...keys].sort(),
        'every key must be on memcached (server 1)',
      );
      const send = `get ${keys.join(' ')}\r\n`;
      const r = await requestOnce(proxy, send, retrievalDone);
      assert.equal(
        r.text,
        keys.map((k) => `VALUE ${k} 3 ${k.length}\r\n${k}\r\n`).join('') + 'END\r\n',
        `multi-get after NOT_MY_VBUCKET\n${describeExchange(send, r)}`,
      );
      const del = await requestOnce(proxy, 'delete nmvb:a\r\n');
      assert.equal(del.text, 'DELETED\r\n', describeExchange('delete nmvb:a\r\n', del));
    } finally {
      await proxy.stop();
      await mock.close();
    }
  });

  it('noreply and quiet requests are retried too, from text and binary clients', async () => {
    // (moxi dropped a noreply request's NOT_MY_VBUCKET and passed a quiet one's to the client: during a
    // rebalance, fire-and-forget writes were lost)
    const mock = await MockServer.start(nmvbHandler);
    const json = vbucketJson([mock, mc], [0, 0, 0, 0]);
    const proxy = await startProxy((p) => `${p[0]}=${json}`, { behaviors: behaviorsFor('binary') });
    try {
      const textKeys = ['quiet:t0', 'quiet:t1', 'quiet:t2', 'quiet:t3', 'quiet:t4'];
      const binKeys = ['quiet:b0', 'quiet:b1', 'quiet:b2', 'quiet:b3', 'quiet:b4'];
      const sets = textKeys.map((k) => `set ${k} 0 0 ${k.length} noreply\r\n${k}\r\n`).join('');
      const c = await RawClient.connect(proxy.port);
      try {
        const r = await timedRequest(c, `${sets}get ${textKeys.join(' ')}\r\n`, retrievalDone, 5000);
        assert.equal(
          r.text,
          textKeys.map((k) => `VALUE ${k} 0 ${k.length}\r\n${k}\r\n`).join('') + 'END\r\n',
          `noreply sets, then a get\n${describeExchange(sets, r)}`,
        );
      } finally {
        c.destroy();
      }
      const bc = await RawClient.connect(proxy.port);
      try {
        const setqs = binKeys.map((key, i) =>
          binRequest({ opcode: BinOp.setq, key, value: key, extras: storeExtras(0, 0), opaque: i }),
        );
        const getkqs = binKeys.map((key, i) => binRequest({ opcode: BinOp.getkq, key, opaque: 10 + i }));
        const ex = await binaryExchange(bc, Buffer.concat([...setqs, ...getkqs]), { timeoutMs: 5000 });
        assert.deepEqual(
          parseBinFrames(ex.data).frames.map((f) => [
            f.status,
            f.opaque,
            f.key.toString(),
            f.value.toString(),
          ]),
          binKeys.map((k, i) => [0, 10 + i, k, k]),
          `SETQ x5, GETKQ x5, NOOP: ${printable(ex.data)}`,
        );
      } finally {
        bc.destroy();
      }
      const direct = await directGetMany(mc, [...textKeys, ...binKeys]);
      assert.equal(direct.size, textKeys.length + binKeys.length, 'every key is on memcached (server 1)');
      assert.ok(
        [...textKeys, ...binKeys].some((k) => keyedRequests(mock, k).length > 0),
        'some requests went to the refusing server first',
      );
    } finally {
      await proxy.stop();
      await mock.close();
    }
  });

  it('when every server refuses: SERVER_ERROR a2b not_my_vbucket for stores, END for gets, bounded retries', async () => {
    const mocks = await Promise.all([MockServer.start(nmvbHandler), MockServer.start(nmvbHandler)]);
    const json = vbucketJson(mocks, [0, 1]);
    const proxy = await startProxy((p) => `${p[0]}=${json}`, { behaviors: behaviorsFor('binary') });
    try {
      const send = 'set lost 0 0 1\r\nx\r\n';
      const r = await requestOnce(proxy, send, undefined, 5000);
      assert.equal(r.text, 'SERVER_ERROR a2b not_my_vbucket\r\n', describeExchange(send, r));
      const tries = mocks.reduce((n, m) => n + keyedRequests(m, 'lost').length, 0);
      assert.ok(tries >= 2, `the proxy must retry on NOT_MY_VBUCKET (saw ${tries} request(s))`);
      assert.ok(tries <= 1 + 2 * mocks.length, `at most 2 x servers retries (saw ${tries} requests)`);
      for (const g of ['get lost\r\n', 'get lost other\r\n', 'gets lost\r\n']) {
        const gr = await requestOnce(proxy, g, retrievalDone, 5000);
        assert.equal(gr.text, 'END\r\n', describeExchange(g, gr));
      }
    } finally {
      await proxy.stop();
      await Promise.all(mocks.map((m) => m.close()));
    }
  });
});
