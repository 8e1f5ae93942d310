import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseVBucketServerMap, type VBucketServerMap } from '../../../src/config/vbucket-map.ts';
import { VBucketRouter } from '../../../src/routing/vbucket.ts';

const b = (s: string): Buffer => Buffer.from(s);

/** A map of `n` vBuckets over `servers` servers, master of v = v % servers, replicas following. */
function map(n: number, servers = 3, numReplicas = 0, forward?: number[][]): VBucketServerMap {
  const rows = Array.from({ length: n }, (_, v) =>
    Array.from({ length: numReplicas + 1 }, (_, r) => (v + r) % servers),
  );
  return parseVBucketServerMap({
    hashAlgorithm: 'CRC',
    numReplicas,
    serverList: Array.from({ length: servers }, (_, i) => `127.0.0.1:${12000 + i}`),
    vBucketMap: rows,
    ...(forward !== undefined ? { vBucketMapForward: forward } : {}),
  });
}

// spec §5.1 (libvbucket tests/vbucket/testapp.c and vbuckettool): key -> vBucket for 4, 16, 64, 1024.
const TABLE: [string, number, number, number, number][] = [
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

describe('VBucketRouter.vbucketOf', () => {
  it('matches the spec §5.1 table for map sizes 4, 16, 64 and 1024', () => {
    const routers = [4, 16, 64, 1024].map((n) => new VBucketRouter(map(n)));
    for (const [key, ...expected] of TABLE) {
      assert.deepEqual(
        routers.map((r) => r.vbucketOf(b(key))),
        expected,
        key,
      );
    }
  });

  it('uses all 15 hash bits and no more', () => {
    const big = new VBucketRouter(map(65536, 1));
    assert.equal(big.vbucketOf(b('hello')), 13840);
    assert.equal(big.vbucketOf(b('user:1234')), 12464);
    assert.equal(new VBucketRouter(map(1, 1)).vbucketOf(b('hello')), 0);
  });
});

describe('VBucketRouter routing', () => {
  it('sends a key to the master of its vBucket', () => {
    const r = new VBucketRouter(map(4, 3));
    // vBuckets 0..3 -> masters 0, 1, 2, 0
    assert.equal(r.serverIndex(b('hello')), 0);
    assert.equal(r.serverIndex(b('tomorrow')), 1);
    assert.equal(r.serverIndex(b('another key')), 2);
    assert.equal(r.serverIndex(b('name')), 0);
    assert.deepEqual(r.servers[1], { host: '127.0.0.1', port: 12001 });
  });

  it('reads masters and replicas from the map, -1 for none or out of range', () => {
    const cfg = parseVBucketServerMap({
      numReplicas: 1,
      serverList: ['a:1', 'b:2'],
      vBucketMap: [
        [0, 1],
        [1, -1],
        [-1, -1],
        [1, 0],
      ],
    });
    const r = new VBucketRouter(cfg);
    assert.deepEqual(
      [0, 1, 2, 3].map((v) => r.masterOf(v)),
      [0, 1, -1, 1],
    );
    assert.deepEqual(
      [0, 1, 2, 3].map((v) => r.replicaOf(v, 0)),
      [1, -1, -1, 0],
    );
    assert.equal(r.replicaOf(0, 1), -1);
    assert.equal(r.masterOf(4), -1);
    assert.equal(r.masterOf(-1), -1);
    assert.equal(r.masterOf(1.5), -1);
    assert.equal(r.numVBuckets, 4);
    assert.equal(r.numReplicas, 1);
    // "yesterday" is vBucket 0 of 4; "hello" too; "another key" is vBucket 2 (no server)
    assert.equal(r.serverIndex(b('another key')), -1);
  });

  it('allows 2 × servers NOT_MY_VBUCKET retries', () => {
    assert.equal(new VBucketRouter(map(4, 1)).maxRetries, 2);
    assert.equal(new VBucketRouter(map(4, 3)).maxRetries, 6);
  });
});

describe('VBucketRouter.foundIncorrectMaster', () => {
  it('walks to the next server and wraps (libvbucket testWrongServer)', () => {
    const r = new VBucketRouter(map(4, 3));
    assert.equal(r.masterOf(0), 0);
    assert.equal(r.foundIncorrectMaster(0, 0), 1);
    assert.equal(r.masterOf(0), 1);
    assert.equal(r.foundIncorrectMaster(0, 1), 2);
    assert.equal(r.masterOf(0), 2);
    assert.equal(r.foundIncorrectMaster(0, 2), 0);
    assert.equal(r.masterOf(0), 0);
    assert.equal(r.serverIndex(b('hello')), 0);
  });

  it('changes nothing when the refusing server is not the current master', () => {
    const r = new VBucketRouter(map(4, 3));
    assert.equal(r.foundIncorrectMaster(1, 0), 1);
    assert.equal(r.foundIncorrectMaster(1, 2), 1);
    assert.equal(r.masterOf(1), 1);
  });

  it('moves only the refused vBucket', () => {
    const r = new VBucketRouter(map(4, 3));
    r.foundIncorrectMaster(0, 0);
    assert.deepEqual(
      [0, 1, 2, 3].map((v) => r.masterOf(v)),
      [1, 1, 2, 0],
    );
  });

  it('copies the whole forward row when the map has one', () => {
    const forward = [
      [2, 0],
      [1, 2],
      [0, 1],
      [2, 1],
    ];
    const cfg = map(4, 3, 1, forward);
    const r = new VBucketRouter(cfg);
    assert.deepEqual([r.masterOf(3), r.replicaOf(3, 0)], [0, 1]);
    // Told wrong by a server that is not even the master: the forward row still wins.
    assert.equal(r.foundIncorrectMaster(3, 1), 2);
    assert.deepEqual([r.masterOf(3), r.replicaOf(3, 0)], [2, 1]);
    assert.equal(r.foundIncorrectMaster(0, 0), 2);
    assert.deepEqual([r.masterOf(0), r.replicaOf(0, 0)], [2, 0]);
    // Again: stays on the forward row.
    assert.equal(r.foundIncorrectMaster(0, 2), 2);
    assert.deepEqual([r.masterOf(1), r.masterOf(2)], [1, 2]);
  });

  it('learns in its own copy, not in the parsed config', () => {
    const cfg = map(4, 3);
    const r1 = new VBucketRouter(cfg);
    r1.foundIncorrectMaster(0, 0);
    assert.equal(cfg.vBucketMap[0], 0);
    assert.equal(new VBucketRouter(cfg).masterOf(0), 0);
    assert.equal(r1.masterOf(0), 1);
  });

  it('ignores vBucket ids out of range', () => {
    const r = new VBucketRouter(map(4, 3));
    assert.equal(r.foundIncorrectMaster(4, 0), -1);
    assert.equal(r.foundIncorrectMaster(-1, 0), -1);
    assert.deepEqual(
      [0, 1, 2, 3].map((v) => r.masterOf(v)),
      [0, 1, 2, 0],
    );
  });

  it('leaves a -1 master alone unless told -1 was wrong (as libvbucket does)', () => {
    const cfg = parseVBucketServerMap({
      numReplicas: 0,
      serverList: ['a:1', 'b:2'],
      vBucketMap: [[-1], [0]],
    });
    const r = new VBucketRouter(cfg);
    assert.equal(r.foundIncorrectMaster(0, 0), -1);
    assert.equal(r.foundIncorrectMaster(0, -1), 0);
  });
});
