import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseClusterConfig, type StaticPool } from '../../../src/config/cluster-config.ts';
import { KetamaRouter } from '../../../src/routing/ketama.ts';
import { createRouter, type KeyRouter } from '../../../src/routing/router.ts';
import { VBucketRouter } from '../../../src/routing/vbucket.ts';

function pools(text: string): readonly StaticPool[] {
  const c = parseClusterConfig(text);
  assert.equal(c.kind, 'static');
  return c.pools;
}

function ports(router: KeyRouter, keys: string[]): number[] {
  return keys.map((k) => router.servers[router.serverIndex(Buffer.from(k))].port);
}

const KEYS = ['hello', 'foo', 'k0', 'k1', 'user:1234'];

describe('createRouter', () => {
  it('makes a ketama-weighted router for a host list by default', () => {
    const [pool] = pools('11211=127.0.0.1:11421,127.0.0.1:11422,127.0.0.1:11423');
    const router = createRouter(pool);
    assert.ok(router instanceof KetamaRouter);
    assert.equal(router.kind, 'ketama');
    assert.equal(router.distribution, 'ketama-weighted');
    assert.deepEqual(ports(router, KEYS), [11421, 11422, 11423, 11423, 11423]);
    assert.deepEqual(
      router.servers.map((s) => `${s.host}:${s.port}`),
      ['127.0.0.1:11421', '127.0.0.1:11422', '127.0.0.1:11423'],
    );
  });

  it('takes the distribution from mcs_opts', () => {
    const [pool] = pools('11211=a,b,c');
    assert.equal((createRouter(pool, 'distribution:ketama') as KetamaRouter).distribution, 'ketama');
    assert.equal((createRouter(pool, 'distribution:modula') as KetamaRouter).distribution, 'modula');
    assert.equal((createRouter(pool, 'nonsense') as KetamaRouter).distribution, 'ketama-weighted');
  });

  it('uses the weights of the host list', () => {
    const [pool] = pools('11211=a:11211:1,b:11211:9');
    const router = createRouter(pool) as KetamaRouter;
    assert.equal(router.continuum.filter((p) => p.server === 0).length, 32);
    assert.equal(router.continuum.filter((p) => p.server === 1).length, 288);
  });

  it('makes a vBucket router for a JSON pool', () => {
    const [pool] = pools(
      '11211={"hashAlgorithm":"CRC","numReplicas":0,"serverList":["h1:11311","h2:11312"],' +
        '"vBucketMap":[[0],[1],[1],[0]]}',
    );
    const router = createRouter(pool);
    assert.ok(router instanceof VBucketRouter);
    assert.equal(router.kind, 'vbucket');
    // hello -> vBucket 0, tomorrow -> 1, another key -> 2, name -> 3
    assert.deepEqual(
      ports(router, ['hello', 'tomorrow', 'another key', 'name']),
      [11311, 11312, 11312, 11311],
    );
    assert.equal(router.maxRetries, 4);
  });

  it('builds one router per pool of a multi-pool config', () => {
    const all = pools('11211=a:1,b:2;11311={"numReplicas":0,"serverList":["c:3"],"vBucketMap":[[0]]}');
    const kinds = all.map((p) => createRouter(p)?.kind);
    assert.deepEqual(kinds, ['ketama', 'vbucket']);
  });

  it('returns null for a pool moxi cannot build (bad map, empty host list)', () => {
    const [bad] = pools('11211={"numReplicas":0}');
    assert.equal(bad.kind, 'vbucket');
    assert.equal(createRouter(bad), null);
    const [empty] = pools('11211=');
    assert.equal(empty.kind, 'hosts');
    assert.equal(createRouter(empty), null);
  });

  it('gives a learning copy per router', () => {
    const [pool] = pools('11211={"numReplicas":0,"serverList":["a:1","b:2"],"vBucketMap":[[0],[1]]}');
    const r1 = createRouter(pool) as VBucketRouter;
    const r2 = createRouter(pool) as VBucketRouter;
    r1.foundIncorrectMaster(0, 0);
    assert.equal(r1.masterOf(0), 1);
    assert.equal(r2.masterOf(0), 0);
  });
});
