/**
 * A real rebalance under load: clients write, delete and read keys DIRECTLY on the node that owns
 * each key's vBucket by the map they last read, and re-read the map (GET /pools/default/buckets/<b>)
 * when a node answers NOT_MY_VBUCKET, while moxi-cluster rebalances 2 -> 4 -> 2 nodes. Afterwards:
 *
 *  - no request failed (NOT_MY_VBUCKET and connections to stopped nodes are retried, nothing else);
 *  - every acknowledged write is read back from the node that now owns its vBucket, with its flags,
 *    and every acknowledged delete stays deleted;
 *  - the clients really were redirected (NOT_MY_VBUCKET happened);
 *  - each node holds exactly the items of its vBuckets (no copy left behind: curr_items adds up),
 *    GET_VBUCKET says Active exactly where the map says, and the removed nodes are gone.
 * Two vbucket buckets are used, one with a SASL password.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  BinStatus,
  NodeClient,
  VBucketStates,
  ownerOf,
  startCluster,
  vbucketOf,
  type BucketJson,
  type ClusterHandle,
} from '../helpers/cluster.ts';

const TEST_TIMEOUT = { timeout: 120_000 };
const WRITERS_PER_BUCKET = 6;
const KEYS_PER_WRITER = 60;
const MAX_ATTEMPTS = 100;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface Stats {
  ops: number;
  nmvb: number;
  reconnects: number;
  errors: string[];
}

/** A client of one bucket that routes by its own copy of the map, refreshed on NOT_MY_VBUCKET. */
class SmartClient {
  private readonly cluster: ClusterHandle;
  private readonly bucket: string;
  private readonly password: string;
  private map: BucketJson | undefined;
  private readonly conns = new Map<number, Promise<NodeClient>>();
  readonly stats: Stats;

  constructor(cluster: ClusterHandle, bucket: string, password: string, stats: Stats) {
    this.cluster = cluster;
    this.bucket = bucket;
    this.password = password;
    this.stats = stats;
  }

  private async refresh(): Promise<BucketJson> {
    this.map = await this.cluster.bucketConfig(this.bucket);
    return this.map;
  }

  private conn(port: number): Promise<NodeClient> {
    let c = this.conns.get(port);
    if (c === undefined) {
      c = (async () => {
        const client = await NodeClient.connect(port);
        if (this.password !== '') {
          const status = await client.saslAuth(this.bucket, this.password);
          if (status !== BinStatus.success) throw new Error(`SASL as ${this.bucket}: status ${status}`);
        }
        return client;
      })();
      this.conns.set(port, c);
    }
    return c;
  }

  /** Runs `op` on the key's owner until it is answered by the owner (bounded). */
  async run(
    key: string,
    op: (client: NodeClient, vbucket: number) => Promise<{ status: number; value: Buffer; extras: Buffer }>,
  ): Promise<{ status: number; value: Buffer; extras: Buffer }> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const map = this.map ?? (await this.refresh());
      const owner = ownerOf(map, key);
      let reply;
      try {
        const client = await this.conn(owner.port);
        reply = await op(client, owner.vbucket);
      } catch (err) {
        // a node stopped by the rebalance (its vBuckets were all dead by then): retry elsewhere
        this.stats.reconnects++;
        this.conns.delete(owner.port);
        if (attempt > 5) this.stats.errors.push(`${key}: ${(err as Error).message}`);
        await this.refresh();
        await sleep(2);
        continue;
      }
      this.stats.ops++;
      if (reply.status !== BinStatus.notMyVBucket) return reply;
      this.stats.nmvb++;
      await this.refresh();
    }
    throw new Error(`${key}: no owner answered in ${MAX_ATTEMPTS} attempts`);
  }

  close(): void {
    for (const c of this.conns.values()) {
      c.then(
        (client) => {
          client.close();
        },
        () => undefined,
      );
    }
    this.conns.clear();
  }
}

interface Acked {
  /** null: deleted. */
  value: string | null;
  flags: number;
}

describe('moxi-cluster rebalance under load', TEST_TIMEOUT, () => {
  let cluster: ClusterHandle;
  const buckets = [
    { name: 'default', password: '' },
    { name: 'other', password: 's3cret' },
  ];

  before(async () => {
    cluster = await startCluster({
      nodes: 2,
      maxNodes: 4,
      buckets: 'default,other:s3cret',
      vbuckets: 64,
      moveDelayMs: 4,
    });
  });
  after(async () => {
    await cluster.stop();
  });

  it('loses no acknowledged write while rebalancing 2 -> 4 -> 2', async (t) => {
    const stats: Stats = { ops: 0, nmvb: 0, reconnects: 0, errors: [] };
    const acked = new Map<string, Map<string, Acked>>(buckets.map((b) => [b.name, new Map()]));
    const clients: SmartClient[] = [];
    let running = true;

    const writer = async (bucket: (typeof buckets)[number], w: number): Promise<void> => {
      const client = new SmartClient(cluster, bucket.name, bucket.password, stats);
      clients.push(client);
      const mine = acked.get(bucket.name)!;
      for (let seq = 0; running; seq++) {
        const key = `${bucket.name}-w${w}-k${seq % KEYS_PER_WRITER}`;
        if (seq % 7 === 6) {
          const r = await client.run(key, (c, vb) => c.delete(key, vb));
          if (r.status !== BinStatus.success && r.status !== BinStatus.keyEnoent) {
            stats.errors.push(`delete ${key}: status ${r.status}`);
          } else {
            mine.set(key, { value: null, flags: 0 });
          }
          continue;
        }
        const value = `${key}=${seq}`;
        const flags = seq;
        const r = await client.run(key, (c, vb) => c.set(key, value, vb, flags));
        if (r.status !== BinStatus.success) {
          stats.errors.push(`set ${key}: status ${r.status}`);
          continue;
        }
        mine.set(key, { value, flags });
        // read your write, wherever the key is by now
        const g = await client.run(key, (c, vb) => c.get(key, vb));
        if (g.status !== BinStatus.success || g.value.toString() !== value) {
          stats.errors.push(`get ${key} after set: status ${g.status} ${g.value.toString()} != ${value}`);
        }
      }
    };

    const writers: Array<Promise<void>> = [];
    for (const bucket of buckets) {
      for (let w = 0; w < WRITERS_PER_BUCKET; w++) writers.push(writer(bucket, w));
    }
    try {
      await sleep(150);
      const up = await cluster.rebalance(4);
      assert.equal(up.moved, 32);
      assert.deepEqual(up.vbucketsPerNode, [16, 16, 16, 16]);
      await sleep(100);
      const down = await cluster.rebalance(2);
      assert.equal(down.moved, 32);
      assert.deepEqual(down.vbucketsPerNode, [32, 32]);
      assert.equal(down.stopped.length, 2);
      await sleep(100);
    } finally {
      running = false;
      await Promise.all(writers);
      for (const c of clients) c.close();
    }
    t.diagnostic(`${stats.ops} operations, ${stats.nmvb} NOT_MY_VBUCKET, ${stats.reconnects} reconnects`);
    assert.deepEqual(stats.errors, []);
    assert.ok(stats.ops > 1000, `only ${stats.ops} operations`);
    assert.ok(stats.nmvb > 0, 'no NOT_MY_VBUCKET: nothing was redirected');

    // every acknowledged write (and delete) is on the vBucket's owner now
    const finalStats: Stats = { ops: 0, nmvb: 0, reconnects: 0, errors: [] };
    for (const bucket of buckets) {
      const config = await cluster.bucketConfig(bucket.name);
      assert.equal(config.vBucketServerMap!.vBucketMapForward, undefined);
      assert.equal(config.vBucketServerMap!.serverList.length, 2);
      const check = new SmartClient(cluster, bucket.name, bucket.password, finalStats);
      const lost: string[] = [];
      let live = 0;
      for (const [key, want] of acked.get(bucket.name)!) {
        const owner = ownerOf(config, key);
        const r = await check.run(key, (c, vb) => c.get(key, vb));
        if (want.value === null) {
          if (r.status !== BinStatus.keyEnoent) lost.push(`${key}: deleted but status ${r.status}`);
          continue;
        }
        live++;
        if (r.status !== BinStatus.success) lost.push(`${key}: status ${r.status} on port ${owner.port}`);
        else if (r.value.toString() !== want.value)
          lost.push(`${key}: ${r.value.toString()} != ${want.value}`);
        else if (r.extras.readUInt32BE(0) !== want.flags)
          lost.push(`${key}: flags ${r.extras.readUInt32BE(0)}`);
      }
      check.close();
      assert.deepEqual(lost, [], `${bucket.name}: lost writes`);
      assert.ok(live > 0);

      // no copy left behind: the nodes' items add up to the live keys
      let items = 0;
      for (const node of config.nodes) {
        const c = await NodeClient.connect(node.ports.direct);
        if (bucket.password !== '')
          assert.equal(await c.saslAuth(bucket.name, bucket.password), BinStatus.success);
        items += Number((await c.stats()).get('curr_items'));
        c.close();
      }
      assert.equal(items, live, `${bucket.name}: curr_items over all nodes`);
    }
    assert.equal(finalStats.nmvb, 0, 'the final map is right');

    // vBucket states agree with the map; the removed nodes are stopped
    const config = await cluster.bucketConfig('default');
    const rows = config.vBucketServerMap!.vBucketMap;
    for (let i = 0; i < config.nodes.length; i++) {
      const c = await NodeClient.connect(config.nodes[i].ports.direct);
      for (let v = 0; v < rows.length; v++) {
        const state = await c.getVBucket(v);
        if (rows[v][0] === i) assert.equal(state, VBucketStates.active, `node ${i} vb ${v}`);
        else assert.notEqual(state, VBucketStates.active, `node ${i} vb ${v}`);
      }
      c.close();
    }
    for (const port of cluster.slotPorts.slice(2)) {
      await assert.rejects(NodeClient.connect(port, undefined, 2000), `port ${port} still listens`);
    }
    assert.equal(vbucketOf('hello', 64), 16); // the spec's vector: the same hash as moxi's
  });
});
