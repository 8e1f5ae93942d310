/**
 * moxi-cluster in front of real memcached servers (--memcached): a static map over the given
 * addresses (vbucket and memcached buckets), no nodes of its own, and no rebalance (real memcached
 * knows nothing of vBuckets, so moving them could not be made safe). Also: POST /shutdown exits.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseVBucketServerMap } from '../../src/config/vbucket-map.ts';
import { startMemcached, type ServerHandle } from '../helpers/processes.ts';
import {
  BinStatus,
  NodeClient,
  httpRequest,
  ownerOf,
  startCluster,
  type ClusterHandle,
} from '../helpers/cluster.ts';

const TEST_TIMEOUT = { timeout: 60_000 };

describe('moxi-cluster --memcached', TEST_TIMEOUT, () => {
  let mc: ServerHandle[] = [];
  let cluster: ClusterHandle;

  before(async () => {
    mc = await Promise.all([startMemcached(), startMemcached()]);
    cluster = await startCluster({
      memcached: mc.map((m) => `127.0.0.1:${m.port}`),
      buckets: 'default,cache',
      bucketTypes: ['cache=memcached'],
      vbuckets: 16,
    });
  });
  after(async () => {
    await cluster.stop();
    await Promise.all(mc.map((m) => m.stop()));
  });

  it('publishes a static map over the given servers', async () => {
    const c = await cluster.bucketConfig('default');
    const list = mc.map((m) => `127.0.0.1:${m.port}`);
    assert.deepEqual(c.vBucketServerMap!.serverList, list);
    assert.deepEqual(
      c.nodes.map((n) => n.ports.direct),
      mc.map((m) => m.port),
    );
    assert.equal(parseVBucketServerMap(c).numVBuckets, 16);
    const cache = await cluster.bucketConfig('cache');
    assert.equal(cache.nodeLocator, 'ketama');
    assert.deepEqual(
      cache.nodes.map((n) => n.ports.direct),
      mc.map((m) => m.port),
    );
    const status = await cluster.status();
    assert.equal(status.mode, 'memcached');
    assert.deepEqual(
      status.nodes.map((n) => n.embedded),
      [false, false],
    );

    // the map's owner is a real memcached that stores the key
    const owner = ownerOf(c, 'hello');
    const client = await NodeClient.connect(owner.port);
    try {
      assert.equal((await client.set('hello', 'world', owner.vbucket)).status, BinStatus.success);
      assert.equal((await client.get('hello', owner.vbucket)).value.toString(), 'world');
    } finally {
      client.close();
    }
  });

  it('refuses to rebalance real memcached servers', async () => {
    const r = await httpRequest(`${cluster.controlUrl}/rebalance?nodes=3`, { method: 'POST' });
    assert.equal(r.status, 400);
    assert.match(r.body, /cannot rebalance real memcached/);
  });

  it('exits on POST /shutdown', async () => {
    await cluster.shutdown();
    assert.ok(cluster.process.exited());
    await assert.rejects(httpRequest(`${cluster.restUrl}/pools`), /ECONNREFUSED/);
  });
});
