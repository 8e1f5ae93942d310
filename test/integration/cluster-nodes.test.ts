/**
 * moxi-cluster's embedded nodes over binary sockets, as a proxy sees them:
 *
 *  - SASL: PLAIN is listed; a bucket with a password logs in with name/password and nothing else;
 *    buckets keep separate data; an unauthenticated connection uses "default";
 *  - vBucket ownership: the owner by the published map serves a key, every other node answers
 *    NOT_MY_VBUCKET; GET_VBUCKET tells Active / None / Dead (after a rebalance moved it away);
 *  - the SET_VBUCKET opcode itself (state in extras or in the body; bad states are EINVAL),
 *    DEL_VBUCKET, on a cluster of its own;
 *  - memcached buckets are not vBucket-aware;
 *  - --admin: 401 without or with wrong credentials, 200 with the admin's or a bucket's own.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  BinStatus,
  ClusterOp,
  ConfigStream,
  NodeClient,
  VBucketStates,
  httpRequest,
  ownerOf,
  startCluster,
  vbucketOf,
  type BucketJson,
  type ClusterHandle,
} from '../helpers/cluster.ts';

const TEST_TIMEOUT = { timeout: 60_000 };

describe('moxi-cluster nodes', TEST_TIMEOUT, () => {
  let cluster: ClusterHandle;
  const clients: NodeClient[] = [];

  before(async () => {
    cluster = await startCluster({
      nodes: 2,
      buckets: 'default,other:secret,cache',
      bucketTypes: ['cache=memcached'],
      vbuckets: 16,
    });
  });
  after(async () => {
    for (const c of clients) c.close();
    await cluster.stop();
  });

  async function client(port: number): Promise<NodeClient> {
    const c = await NodeClient.connect(port);
    clients.push(c);
    return c;
  }

  it('logs in to a bucket with a password, and only with it', async () => {
    const config = await cluster.bucketConfig('other');
    const key = 'sasl-key';
    const owner = ownerOf(config, key);
    const c = await client(owner.port);
    const mechs = await c.request({ opcode: ClusterOp.saslListMechs });
    assert.equal(mechs.status, BinStatus.success);
    assert.equal(mechs.value.toString(), 'PLAIN');
    assert.equal(await c.saslAuth('other', 'wrong'), BinStatus.authError);
    assert.equal(await c.saslAuth('nobucket', ''), BinStatus.authError);
    assert.equal(await c.saslAuth('other', 'secret'), BinStatus.success);
    assert.equal((await c.set(key, 'in-other', owner.vbucket)).status, BinStatus.success);
    assert.equal((await c.get(key, owner.vbucket)).value.toString(), 'in-other');

    // a connection without login is in "default": separate data
    const d = await client(owner.port);
    const miss = await d.get(key, owner.vbucket);
    assert.equal(miss.status, BinStatus.keyEnoent);
    assert.equal((await d.set(key, 'in-default', owner.vbucket)).status, BinStatus.success);
    assert.equal((await c.get(key, owner.vbucket)).value.toString(), 'in-other');
    assert.equal(await d.saslAuth('default', ''), BinStatus.success);
    assert.equal((await d.get(key, owner.vbucket)).value.toString(), 'in-default');
  });

  it('serves a key on its owner only; the others answer NOT_MY_VBUCKET', async () => {
    const config = await cluster.bucketConfig('default');
    const ports = config.nodes.map((n) => n.ports.direct);
    for (const key of ['hello', 'doctor', 'name', 'tomorrow', 'user:1234']) {
      const owner = ownerOf(config, key);
      assert.equal(owner.vbucket, vbucketOf(key, 16));
      for (const port of ports) {
        const c = await client(port);
        const set = await c.set(key, 'x', owner.vbucket);
        const get = await c.get(key, owner.vbucket);
        if (port === owner.port) {
          assert.equal(set.status, BinStatus.success, key);
          assert.equal(get.status, BinStatus.success, key);
          assert.equal(await c.getVBucket(owner.vbucket), VBucketStates.active);
        } else {
          assert.equal(set.status, BinStatus.notMyVBucket, key);
          assert.equal(get.status, BinStatus.notMyVBucket, key);
          assert.equal(get.value.toString(), 'Not my vbucket');
          assert.equal(await c.getVBucket(owner.vbucket), VBucketStates.none);
        }
        c.close();
      }
    }
  });

  it('keeps memcached buckets vBucket-unaware', async () => {
    const config = await cluster.bucketConfig('cache');
    for (const n of config.nodes) {
      const c = await client(n.ports.direct);
      assert.equal(await c.saslAuth('cache', ''), BinStatus.success);
      for (const vbucket of [0, 1, 7]) {
        assert.equal((await c.set(`k${vbucket}`, 'v', vbucket)).status, BinStatus.success);
      }
    }
  });

  it('marks a moved vBucket dead on its old owner', async () => {
    const before = await cluster.bucketConfig('default');
    await cluster.rebalance(3);
    const now = await cluster.bucketConfig('default');
    const rows = now.vBucketServerMap!.vBucketMap;
    const moved = before.vBucketServerMap!.vBucketMap.findIndex((row, v) => row[0] !== rows[v][0]);
    assert.ok(moved >= 0);
    const oldPort = before.nodes[before.vBucketServerMap!.vBucketMap[moved][0]].ports.direct;
    const newPort = now.nodes[rows[moved][0]].ports.direct;
    assert.equal(await (await client(oldPort)).getVBucket(moved), VBucketStates.dead);
    assert.equal(await (await client(newPort)).getVBucket(moved), VBucketStates.active);
    await cluster.rebalance(2);
    // node 2 is gone
    await assert.rejects(NodeClient.connect(cluster.slotPorts[2], undefined, 2000));
  });
});

describe('moxi-cluster SET_VBUCKET over a socket', TEST_TIMEOUT, () => {
  let cluster: ClusterHandle;
  const clients: NodeClient[] = [];

  before(async () => {
    cluster = await startCluster({ nodes: 2, vbuckets: 8 });
  });
  after(async () => {
    for (const c of clients) c.close();
    await cluster.stop();
  });

  it('sets, reports and deletes vBucket states as membase does', async () => {
    const config = await cluster.bucketConfig('default');
    const rows = config.vBucketServerMap!.vBucketMap;
    const [p0, p1] = config.nodes.map((n) => n.ports.direct);
    // a vBucket node 1 does not own, and a key in it
    const v = rows.findIndex((row) => row[0] === 0);
    let key = '';
    for (let i = 0; key === ''; i++) if (vbucketOf(`k${i}`, 8) === v) key = `k${i}`;
    const c = await NodeClient.connect(p1);
    clients.push(c);

    assert.equal(await c.getVBucket(v), VBucketStates.none);
    assert.equal((await c.set(key, 'a', v)).status, BinStatus.notMyVBucket);
    // state in extras
    assert.equal((await c.setVBucket(v, VBucketStates.active)).status, BinStatus.success);
    assert.equal(await c.getVBucket(v), VBucketStates.active);
    assert.equal((await c.set(key, 'a', v)).status, BinStatus.success);
    assert.equal((await c.get(key, v)).value.toString(), 'a');
    // pending and replica do not serve
    for (const state of [VBucketStates.pending, VBucketStates.replica]) {
      assert.equal((await c.setVBucket(v, state)).status, BinStatus.success);
      assert.equal(await c.getVBucket(v), state);
      assert.equal((await c.get(key, v)).status, BinStatus.notMyVBucket);
    }
    // state in the body
    assert.equal((await c.setVBucket(v, VBucketStates.dead, true)).status, BinStatus.success);
    assert.equal(await c.getVBucket(v), VBucketStates.dead);
    assert.equal((await c.get(key, v)).status, BinStatus.notMyVBucket);
    // bad states
    for (const state of [0, 5, 0x3d]) {
      assert.equal((await c.setVBucket(v, state)).status, BinStatus.einval, `state ${state}`);
    }
    assert.equal((await c.request({ opcode: ClusterOp.setVBucket, vbucket: v })).status, BinStatus.einval);
    assert.equal(await c.getVBucket(v), VBucketStates.dead);
    // DEL_VBUCKET
    assert.equal((await c.request({ opcode: ClusterOp.delVBucket, vbucket: v })).status, BinStatus.success);
    assert.equal(await c.getVBucket(v), VBucketStates.none);
    // the real owner was never affected
    const o = await NodeClient.connect(p0);
    clients.push(o);
    assert.equal((await o.set(key, 'b', v)).status, BinStatus.success);
    assert.equal(await o.getVBucket(v), VBucketStates.active);
  });
});

describe('moxi-cluster --admin', TEST_TIMEOUT, () => {
  let cluster: ClusterHandle;
  const admin = { user: 'Administrator', password: 'password' };

  before(async () => {
    cluster = await startCluster({ nodes: 1, buckets: 'default,other:secret', admin });
  });
  after(async () => {
    await cluster.stop();
  });

  it('answers 401 without or with wrong credentials', async () => {
    const urls = [
      `${cluster.restUrl}/pools`,
      `${cluster.restUrl}/pools/default/buckets`,
      cluster.bucketUrl('default'),
      cluster.streamingUrl('default'),
      cluster.saslStreamingUrl(),
    ];
    for (const url of urls) {
      for (const auth of [
        undefined,
        { user: admin.user, password: 'nope' },
        { user: 'x', password: 'password' },
      ]) {
        const r = await httpRequest(url, { auth });
        assert.equal(r.status, 401, `${url} ${JSON.stringify(auth)}`);
        assert.match(String(r.headers['www-authenticate']), /^Basic realm=/);
      }
    }
    // a bucket's credentials open only that bucket
    const bucketAuth = { user: 'other', password: 'secret' };
    assert.equal((await httpRequest(cluster.bucketUrl('other'), { auth: bucketAuth })).status, 200);
    assert.equal((await httpRequest(cluster.bucketUrl('default'), { auth: bucketAuth })).status, 401);
    assert.equal((await httpRequest(cluster.saslStreamingUrl(), { auth: bucketAuth })).status, 401);
    assert.equal(
      (await httpRequest(cluster.bucketUrl('other'), { auth: { user: 'other', password: '' } })).status,
      401,
    );
  });

  it('serves everything with the admin credentials', async () => {
    for (const url of [`${cluster.restUrl}/pools`, cluster.bucketUrl('other')]) {
      assert.equal((await httpRequest(url, { auth: admin })).status, 200, url);
    }
    const c = await cluster.bucketConfig('other'); // the helper sends the admin credentials
    assert.equal(c.saslPassword, 'secret');
    const s = await ConfigStream.open(cluster.saslStreamingUrl(), { auth: admin });
    try {
      assert.equal(s.status, 200);
      const doc = await s.next<{ buckets: BucketJson[] }>();
      assert.equal(doc.buckets.length, 2);
    } finally {
      s.close();
    }
    // the control port needs no credentials
    assert.equal((await httpRequest(`${cluster.controlUrl}/status`)).status, 200);
  });
});
