/**
 * bin/moxi-cluster's REST and control ports, as a process on loopback:
 *
 *  - the Couchbase JSON shapes of vbucket and memcached buckets, on every endpoint, and that
 *    src/config/vbucket-map.ts accepts every published map (including those with a forward map);
 *  - streaming: one config per "\n\n\n\n"-terminated chunk, a new one after a rebalance (with
 *    vBucketMapForward while it runs, without once done), saslBucketsStreaming with every bucket;
 *  - 404s, the control port's errors (409 during a rebalance, 400);
 *  - /rest/stop and /rest/start: streams are dropped, connections refused, the nodes keep serving
 *    and keep their data, and the REST port comes back with the current map.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseVBucketServerMap } from '../../src/config/vbucket-map.ts';
import {
  BinStatus,
  ConfigStream,
  NodeClient,
  STREAM_SEPARATOR,
  httpJson,
  httpRequest,
  ownerOf,
  startCluster,
  type BucketJson,
  type ClusterHandle,
  type ClusterStatus,
} from '../helpers/cluster.ts';

const TEST_TIMEOUT = { timeout: 60_000 };

function assertParses(config: BucketJson): void {
  const parsed = parseVBucketServerMap(JSON.stringify(config));
  const map = config.vBucketServerMap!;
  assert.equal(parsed.numVBuckets, map.vBucketMap.length);
  assert.deepEqual(parsed.serverList, map.serverList);
  assert.equal(parsed.vBucketMapForward !== undefined, map.vBucketMapForward !== undefined);
}

describe('moxi-cluster REST', TEST_TIMEOUT, () => {
  let cluster: ClusterHandle;
  const opened: Array<ConfigStream | NodeClient> = [];

  before(async () => {
    cluster = await startCluster({
      nodes: 2,
      maxNodes: 4,
      buckets: 'default,other:secret,cache',
      bucketTypes: ['cache=memcached'],
      vbuckets: 64,
      moveDelayMs: 2,
    });
  });
  after(async () => {
    for (const o of opened) o.close();
    await cluster.stop();
  });

  async function stream(url: string): Promise<ConfigStream> {
    const s = await ConfigStream.open(url);
    opened.push(s);
    return s;
  }

  it('publishes a vbucket bucket in Couchbase shape', async () => {
    const c = await cluster.bucketConfig('default');
    const [p0, p1] = cluster.initialNodePorts;
    assert.equal(c.name, 'default');
    assert.equal(c.bucketType, 'membase');
    assert.equal(c.authType, 'sasl');
    assert.equal(c.saslPassword, '');
    assert.equal(c.nodeLocator, 'vbucket');
    assert.equal(c.rev, 1);
    assert.match(c.uri, /^\/pools\/default\/buckets\/default\?bucket_uuid=[0-9a-f]{32}$/);
    assert.match(c.streamingUri, /^\/pools\/default\/bucketsStreaming\/default\?bucket_uuid=[0-9a-f]{32}$/);
    assert.deepEqual(
      c.nodes.map((n) => [n.hostname, n.status, n.ports.direct, n.ports.proxy]),
      [
        [`127.0.0.1:${cluster.restPort}`, 'healthy', p0, 0],
        [`127.0.0.1:${cluster.restPort}`, 'healthy', p1, 0],
      ],
    );
    const map = c.vBucketServerMap!;
    assert.equal(map.hashAlgorithm, 'CRC');
    assert.equal(map.numReplicas, 0);
    assert.deepEqual(map.serverList, [`127.0.0.1:${p0}`, `127.0.0.1:${p1}`]);
    assert.equal(map.vBucketMap.length, 64);
    map.vBucketMap.forEach((row, v) => {
      assert.deepEqual(row, [v % 2]);
    });
    assert.equal(map.vBucketMapForward, undefined);
    assertParses(c);

    const other = await cluster.bucketConfig('other');
    assert.equal(other.saslPassword, 'secret');
    const parsed = parseVBucketServerMap(other);
    assert.equal(parsed.user, 'other');
    assert.equal(parsed.password, 'secret');
  });

  it('publishes a memcached bucket with ketama and nodes only', async () => {
    const c = await cluster.bucketConfig('cache');
    assert.equal(c.bucketType, 'memcached');
    assert.equal(c.nodeLocator, 'ketama');
    assert.equal(c.vBucketServerMap, undefined);
    assert.deepEqual(
      c.nodes.map((n) => n.ports.direct),
      cluster.initialNodePorts,
    );
  });

  it('answers /pools, /pools/default, /pools/default/buckets and 404s', async () => {
    const pools = await httpJson<{ pools: Array<{ name: string; uri: string }> }>(`${cluster.restUrl}/pools`);
    assert.equal(pools.pools[0].name, 'default');
    const pool = await httpJson<{ name: string; nodes: unknown[]; buckets: { uri: string } }>(
      `${cluster.restUrl}/pools/default`,
    );
    assert.equal(pool.nodes.length, 2);
    assert.equal(pool.buckets.uri, '/pools/default/buckets');
    const all = await httpJson<BucketJson[]>(`${cluster.restUrl}/pools/default/buckets`);
    assert.deepEqual(
      all.map((b) => b.name),
      ['default', 'other', 'cache'],
    );
    // the uri a bucket names is served too (query ignored)
    const viaUri = await httpJson<BucketJson>(cluster.restUrl + all[1].uri);
    assert.equal(viaUri.name, 'other');
    for (const path of [
      '/pools/default/buckets/nope',
      '/pools/default/bucketsStreamingConfig/nope',
      '/pools/default/bucketsStreaming/nope',
      '/pools/other',
      '/nothing',
    ]) {
      const r = await httpRequest(cluster.restUrl + path);
      assert.equal(r.status, 404, path);
      assert.equal(r.body, 'Requested resource not found.\r\n');
    }
    const post = await httpRequest(`${cluster.restUrl}/pools/default/buckets/default`, { method: 'POST' });
    assert.equal(post.status, 405);
  });

  it('streams configs and a new one after every change of a rebalance', async () => {
    const s = await stream(cluster.streamingUrl('default'));
    const sasl = await stream(cluster.saslStreamingUrl());
    const legacy = await stream(`${cluster.restUrl}/pools/default/bucketsStreaming/default`);
    const cache = await stream(cluster.streamingUrl('cache'));
    assert.equal(s.status, 200);
    assert.match(String(s.headers['content-type']), /^application\/json/);
    assert.equal(s.headers['transfer-encoding'], 'chunked');
    const first = await s.next<BucketJson>();
    assert.deepEqual(first, await cluster.bucketConfig('default'));
    assert.ok(s.chunks[0].endsWith(STREAM_SEPARATOR), 'a config chunk ends with four newlines');
    assert.equal((await legacy.next<BucketJson>()).rev, first.rev);
    const all = await sasl.next<{ buckets: BucketJson[] }>();
    assert.deepEqual(
      all.buckets.map((b) => b.name),
      ['default', 'other', 'cache'],
    );
    assert.equal((await cache.next<BucketJson>()).nodes.length, 2);

    const summary = await cluster.rebalance(3);
    assert.equal(summary.from, 2);
    assert.equal(summary.to, 3);
    assert.equal(summary.moved, 21);
    assert.deepEqual(summary.vbucketsPerNode, [22, 21, 21]);
    assert.equal(summary.started.length, 1);

    // every config while it ran parses; revs grow; forward maps appear, and the last has none
    const seen: BucketJson[] = [];
    const last = await s.until<BucketJson>((c) => {
      seen.push(c);
      return (
        c.vBucketServerMap!.vBucketMapForward === undefined && c.vBucketServerMap!.serverList.length === 3
      );
    }, 10_000);
    assert.ok(seen.length >= 3, `only ${seen.length} configs streamed`);
    let rev = first.rev;
    for (const c of seen) {
      assertParses(c);
      assert.ok(c.rev > rev, 'revs increase');
      rev = c.rev;
    }
    const forwards = seen.filter((c) => c.vBucketServerMap!.vBucketMapForward !== undefined);
    assert.ok(forwards.length >= 21, `a forward map while each vBucket moved (${forwards.length})`);
    // the forward map names the final owner of every vBucket
    assert.deepEqual(forwards[0].vBucketServerMap!.vBucketMapForward, last.vBucketServerMap!.vBucketMap);
    assert.deepEqual(last, await cluster.bucketConfig('default'));
    const counts = [0, 0, 0];
    for (const [o] of last.vBucketServerMap!.vBucketMap) counts[o]++;
    assert.deepEqual(counts, [22, 21, 21]);

    const lastAll = await sasl.until<{ buckets: BucketJson[] }>(
      (d) => d.buckets[0].rev === last.rev && d.buckets[2].nodes.length === 3,
      10_000,
    );
    assert.equal(lastAll.buckets.length, 3);
    assert.equal(lastAll.buckets[1].vBucketServerMap!.serverList.length, 3);
    const cacheNow = await cache.until<BucketJson>((c) => c.nodes.length === 3, 10_000);
    assert.equal(cacheNow.nodeLocator, 'ketama');

    const status = await cluster.status();
    assert.equal(status.nodes.length, 3);
    assert.equal(status.streams, 4);
    assert.equal(status.rebalancing, false);

    // back to 2: the third node is stopped
    const back = await cluster.rebalance(2);
    assert.deepEqual(back.stopped, [`127.0.0.1:${cluster.slotPorts[2]}`]);
    await s.until<BucketJson>((c) => c.vBucketServerMap!.serverList.length === 2, 10_000);
  });

  it('refuses a second rebalance while one runs, and bad requests', async () => {
    const slow = cluster.rebalance(4);
    // wait until it runs
    const deadline = Date.now() + 5000;
    while (!(await cluster.status()).rebalancing && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 2));
    const busy = await httpRequest(`${cluster.controlUrl}/rebalance?nodes=2`, { method: 'POST' });
    assert.equal(busy.status, 409);
    assert.match(busy.body, /already running/);
    await slow;
    for (const q of ['', '?nodes=', '?nodes=x', '?nodes=0', '?nodes=1000']) {
      const r = await httpRequest(`${cluster.controlUrl}/rebalance${q}`, { method: 'POST' });
      assert.equal(r.status, 400, q);
    }
    assert.equal((await httpRequest(`${cluster.controlUrl}/rebalance?nodes=2`)).status, 405);
    assert.equal((await httpRequest(`${cluster.controlUrl}/nothing`)).status, 404);
    const status = await cluster.status();
    assert.equal(status.nodes.length, 4);
    await cluster.rebalance(2);
  });

  it('stops and restarts the REST port while the nodes keep serving', async () => {
    const config = await cluster.bucketConfig('default');
    const key = 'survives-rest-outage';
    const owner = ownerOf(config, key);
    const client = await NodeClient.connect(owner.port);
    opened.push(client);
    assert.equal((await client.set(key, 'v1', owner.vbucket)).status, BinStatus.success);

    const s = await stream(cluster.streamingUrl('default'));
    await s.next();
    await cluster.restStop();
    await Promise.race([s.ended, new Promise((r) => setTimeout(r, 5000))]);
    assert.ok(s.isClosed, 'the stream is dropped');
    await assert.rejects(httpRequest(`${cluster.restUrl}/pools`), /ECONNREFUSED/);
    let status: ClusterStatus = await cluster.status();
    assert.equal(status.restListening, false);

    // the nodes keep their data and serve; the cluster can even change meanwhile
    const got = await client.get(key, owner.vbucket);
    assert.equal(got.status, BinStatus.success);
    assert.equal(got.value.toString(), 'v1');
    await cluster.rebalance(3);

    await cluster.restStart();
    await cluster.restStart(); // idempotent
    status = await cluster.status();
    assert.equal(status.restListening, true);
    const again = await stream(cluster.streamingUrl('default'));
    const now = await again.next<BucketJson>();
    assert.equal(now.vBucketServerMap!.serverList.length, 3);
    assert.ok(now.rev > config.rev);
    assertParses(now);

    // the key moved or not, it is where the map says
    const newOwner = ownerOf(now, key);
    const c2 = await NodeClient.connect(newOwner.port);
    opened.push(c2);
    const moved = await c2.get(key, newOwner.vbucket);
    assert.equal(moved.value.toString(), 'v1');
    await cluster.rebalance(2);
  });
});
