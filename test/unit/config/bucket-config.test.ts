import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  DEFAULT_BUCKET_NAME,
  parseClusterBuckets,
  type BucketConfig,
  type KetamaBucketConfig,
  type VBucketBucketConfig,
} from '../../../src/config/bucket-config.ts';

/** Finds test/fixtures/rest/<name> whether the tests run from the source tree or a build dir. */
function fixture(name: string): unknown {
  const rel = join('test', 'fixtures', 'rest', name);
  let path = join(process.cwd(), rel);
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, rel))) {
      path = join(dir, rel);
      break;
    }
    if (dirname(dir) === dir) break;
  }
  return JSON.parse(readFileSync(path, 'utf8')) as unknown;
}

const URL = 'http://127.0.0.1:8091/pools/default/saslBucketsStreaming';

function vbucket(b: BucketConfig | undefined): VBucketBucketConfig {
  assert.ok(b !== undefined);
  assert.equal(b.kind, 'vbucket');
  return b;
}

function ketama(b: BucketConfig | undefined): KetamaBucketConfig {
  assert.ok(b !== undefined);
  assert.equal(b.kind, 'ketama');
  return b;
}

function bucket(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'b1',
    saslPassword: 'pw',
    nodeLocator: 'vbucket',
    vBucketServerMap: {
      hashAlgorithm: 'CRC',
      numReplicas: 0,
      serverList: ['10.0.0.1:11210', '10.0.0.2:11210'],
      vBucketMap: [[0], [1], [0], [1]],
    },
    ...overrides,
  };
}

function memcachedBucket(nodes: unknown[], overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'mc', saslPassword: 'mpw', nodeLocator: 'ketama', nodes, ...overrides };
}

function node(hostname: string, direct: number, status = 'healthy'): Record<string, unknown> {
  return { hostname, status, ports: { proxy: 11211, direct }, clusterMembership: 'active' };
}

describe('parseClusterBuckets: fixtures', () => {
  it('reads a bucketsStreamingConfig/default document (one vBucket bucket, Couchbase 2.x)', () => {
    const json = fixture('bucketsStreamingConfig-default.json');
    const { buckets, errors } = parseClusterBuckets(json, URL);
    assert.deepEqual(errors, []);
    assert.equal(buckets.length, 1);
    const b = vbucket(buckets[0]);
    assert.equal(b.name, 'default');
    assert.equal(b.password, '');
    assert.deepEqual(b.map.serverList, ['192.168.56.101:11210', '192.168.56.102:11210']);
    assert.deepEqual(b.map.servers, [
      { host: '192.168.56.101', port: 11210 },
      { host: '192.168.56.102', port: 11210 },
    ]);
    assert.equal(b.map.numVBuckets, 64);
    assert.equal(b.map.numReplicas, 1);
    assert.deepEqual([...b.map.vBucketMap.subarray(0, 4)], [0, 1, 1, 0]);
    assert.equal(b.map.vBucketMapForward, undefined);
    // the default bucket has no SASL user in the map itself; the pool user is the bucket name
    assert.equal(b.map.user, undefined);
    assert.deepEqual(JSON.parse(b.config), json);
  });

  it('reads saslBucketsStreaming: default first, vBucket and memcached buckets, credentials', () => {
    const { buckets, errors } = parseClusterBuckets(fixture('saslBucketsStreaming.json'), URL);
    assert.deepEqual(errors, []);
    assert.deepEqual(
      buckets.map((b) => [b.name, b.kind, b.password]),
      [
        ['default', 'vbucket', ''],
        ['users', 'vbucket', 'us3rs'],
        ['sessions', 'ketama', 's3ss10ns'],
      ],
    );
    const users = vbucket(buckets[1]);
    assert.equal(users.map.numVBuckets, 16);
    assert.equal(users.map.user, 'users');
    assert.equal(users.map.password, 'us3rs');
    // memcached bucket: healthy nodes only, REST port stripped from hostname, ports.direct used
    const sessions = ketama(buckets[2]);
    assert.deepEqual(sessions.servers, [
      { host: '192.168.56.101', port: 11210, weight: 0 },
      { host: '192.168.56.103', port: 11210, weight: 0 },
    ]);
    assert.equal(sessions.config, '192.168.56.101:11210,192.168.56.103:11210');
  });

  it('reads vBucketMapForward during a rebalance', () => {
    const { buckets, errors } = parseClusterBuckets(fixture('vbucket-map-forward.json'), URL);
    assert.deepEqual(errors, []);
    const b = vbucket(buckets[0]);
    assert.equal(b.map.serverList.length, 3);
    assert.deepEqual([...b.map.vBucketMap], [0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0]);
    assert.ok(b.map.vBucketMapForward !== undefined);
    assert.deepEqual([...b.map.vBucketMapForward], [0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2]);
  });
});

describe('parseClusterBuckets: document shapes', () => {
  it('names a single bucket without a name `default`', () => {
    const { buckets } = parseClusterBuckets(bucket({ name: undefined }), URL);
    assert.equal(buckets[0]?.name, DEFAULT_BUCKET_NAME);
    const unnamed = parseClusterBuckets(bucket({ name: 42 }), URL);
    assert.equal(unnamed.buckets[0]?.name, 'default');
  });

  it('treats a document whose `buckets` is not an array as one bucket', () => {
    const { buckets, errors } = parseClusterBuckets(
      bucket({ buckets: { uri: '/pools/default/buckets' } }),
      URL,
    );
    assert.deepEqual(errors, []);
    assert.deepEqual(
      buckets.map((b) => b.name),
      ['b1'],
    );
  });

  it('accepts an empty bucket list', () => {
    assert.deepEqual(parseClusterBuckets({ buckets: [] }, URL), { buckets: [], errors: [] });
  });

  it('moves every default bucket first and keeps the others in order, skipping non-objects', () => {
    const doc = {
      buckets: [
        bucket({ name: 'a' }),
        7,
        null,
        'x',
        bucket({ name: undefined }),
        bucket({ name: 'b' }),
        [bucket()],
      ],
    };
    const { buckets, errors } = parseClusterBuckets(doc, URL);
    assert.deepEqual(errors, []);
    assert.deepEqual(
      buckets.map((b) => b.name),
      ['default', 'a', 'b'],
    );
  });

  it('matches member names case-insensitively, like cJSON', () => {
    const upper = { NAME: 'upper', SASLPASSWORD: 'p', VBucketServerMap: bucket().vBucketServerMap };
    const { buckets, errors } = parseClusterBuckets({ Buckets: [upper] }, URL);
    assert.deepEqual(errors, []);
    assert.equal(buckets[0]?.name, 'upper');
    assert.equal(buckets[0]?.password, 'p');
  });

  it('keeps a bucket named twice once, at its first place, with its last config', () => {
    const doc = {
      buckets: [
        bucket({ name: 'x', saslPassword: 'one' }),
        bucket({ name: 'y' }),
        bucket({ name: 'x', saslPassword: 'two' }),
      ],
    };
    const { buckets } = parseClusterBuckets(doc, URL);
    assert.deepEqual(
      buckets.map((b) => [b.name, b.password]),
      [
        ['x', 'two'],
        ['y', 'pw'],
      ],
    );
  });

  it('gives the password as "" when saslPassword is missing or not a string', () => {
    assert.equal(parseClusterBuckets(bucket({ saslPassword: undefined }), URL).buckets[0]?.password, '');
    assert.equal(parseClusterBuckets(bucket({ saslPassword: 5 }), URL).buckets[0]?.password, '');
  });
});

describe('parseClusterBuckets: bad buckets', () => {
  it("skips a bad vBucket bucket with moxi's error line and keeps the others", () => {
    const doc = {
      buckets: [
        bucket({ name: 'good' }),
        bucket({ name: 'nomap', vBucketServerMap: undefined }),
        bucket({
          name: 'empty',
          vBucketServerMap: { hashAlgorithm: 'CRC', numReplicas: 0, serverList: ['a:1'], vBucketMap: [] },
        }),
        bucket({ name: 'good2' }),
      ],
    };
    const { buckets, errors } = parseClusterBuckets(doc, URL);
    assert.deepEqual(
      buckets.map((b) => b.name),
      ['good', 'good2'],
    );
    assert.deepEqual(errors, [
      `ERROR: bad JSON configuration from ${URL}: Expected number <= 4 for numReplicas`,
      `ERROR: bad JSON configuration from ${URL}: No vBuckets available; service maybe still initializing`,
    ]);
  });

  it("reports moxi's own server-string check the same way", () => {
    const b = bucket({
      vBucketServerMap: { numReplicas: 0, serverList: ['noport'], vBucketMap: [[0]] },
    });
    const { buckets, errors } = parseClusterBuckets(b, URL);
    assert.deepEqual(buckets, []);
    assert.equal(errors.length, 1);
    assert.match(
      errors[0],
      /^ERROR: bad JSON configuration from http:\S+: mcs_create failed, missing port: /,
    );
  });

  it('rejects a document that is not an object', () => {
    for (const doc of [null, 3, 'text', [1, 2]]) {
      const { buckets, errors } = parseClusterBuckets(doc, URL);
      assert.deepEqual(buckets, []);
      assert.deepEqual(errors, [
        `ERROR: bad JSON configuration from ${URL}: Expected number <= 4 for numReplicas`,
      ]);
    }
  });

  it('treats any nodeLocator other than "ketama" as a vBucket bucket', () => {
    const { errors } = parseClusterBuckets(bucket({ nodeLocator: 'KETAMA' }), URL);
    assert.deepEqual(errors, [`ERROR: bad JSON configuration from ${URL}: Unsupported nodeLocator: KETAMA`]);
    const nonString = parseClusterBuckets(bucket({ nodeLocator: 1 }), URL);
    assert.deepEqual(nonString.errors, [
      `ERROR: bad JSON configuration from ${URL}: Expected string for nodeLocator`,
    ]);
  });
});

describe('parseClusterBuckets: memcached (ketama) buckets', () => {
  it('prefers vBucketServerMap.serverList over nodes', () => {
    const b = memcachedBucket([node('10.9.9.9:8091', 11210)], {
      vBucketServerMap: { serverList: ['10.0.0.1:11211', 'mc2:11212'] },
    });
    const out = ketama(parseClusterBuckets(b, URL).buckets[0]);
    assert.deepEqual(out.servers, [
      { host: '10.0.0.1', port: 11211, weight: 0 },
      { host: 'mc2', port: 11212, weight: 0 },
    ]);
    assert.equal(out.name, 'mc');
    assert.equal(out.password, 'mpw');
  });

  it('falls back to nodes when serverList is not an array', () => {
    const b = memcachedBucket([node('10.0.0.1', 11210), node('10.0.0.2:8091', 11211)], {
      vBucketServerMap: { serverList: 'nope' },
    });
    assert.deepEqual(ketama(parseClusterBuckets(b, URL).buckets[0]).servers, [
      { host: '10.0.0.1', port: 11210, weight: 0 },
      { host: '10.0.0.2', port: 11211, weight: 0 },
    ]);
  });

  it('skips unhealthy and warming-up nodes but keeps nodes without a status', () => {
    const nodes = [
      node('a:8091', 1, 'unhealthy'),
      node('b:8091', 2, 'warmup'),
      { hostname: 'c:8091', ports: { direct: 3 } },
      node('d:8091', 4),
    ];
    assert.deepEqual(
      ketama(parseClusterBuckets(memcachedBucket(nodes), URL).buckets[0]).servers.map((s) => s.host),
      ['c', 'd'],
    );
  });

  it('applies -Z downstream_weight to every server', () => {
    const b = memcachedBucket([node('a:8091', 11210), node('b', 11211)]);
    const out = ketama(parseClusterBuckets(b, URL, { downstreamWeight: 3 }).buckets[0]);
    assert.deepEqual(
      out.servers.map((s) => s.weight),
      [3, 3],
    );
    assert.equal(out.config, 'a:11210:3,b:11211:3');
  });

  it("reports a memcached bucket it cannot use with moxi's texts", () => {
    const cases: [unknown, string][] = [
      [memcachedBucket([]), 'ERROR: conjk empty serverList/nodes in re-config'],
      [{ name: 'mc', nodeLocator: 'ketama' }, 'ERROR: conjk no serverList/nodes in re-config'],
    ];
    for (const [doc, error] of cases) {
      const { buckets, errors } = parseClusterBuckets(doc, URL);
      assert.deepEqual(buckets, []);
      assert.deepEqual(errors, [error]);
    }
    const bad: unknown[][] = [
      [node('a', 1, 'unhealthy')],
      [node('a', 1), { hostname: 'b', ports: {} }],
      [node('a', 1), { hostname: 'b', ports: { direct: 0 } }],
      [node('a', 1), { ports: { direct: 2 } }],
      [node('a', 1), 17],
    ];
    for (const nodes of bad) {
      const { buckets, errors } = parseClusterBuckets({ buckets: [memcachedBucket(nodes), bucket()] }, URL);
      assert.deepEqual(
        buckets.map((b) => b.name),
        ['b1'],
      );
      assert.equal(errors.length, 1);
      assert.match(errors[0], /^ERROR: conjk parse error for config \d+ from http:\S+ in \{/);
    }
    const badStrings = memcachedBucket([], { vBucketServerMap: { serverList: ['a:1', 'noport'] } });
    assert.match(
      parseClusterBuckets(badStrings, URL).errors[0],
      /^ERROR: conjk parse error for config 1 from /,
    );
  });
});

describe('parseClusterBuckets: signatures', () => {
  it('is stable across member order and ignored fields', () => {
    const a = bucket();
    const b = { ...bucket(), uri: '/pools/default/buckets/b1', nodes: [node('10.0.0.1:8091', 11210)] };
    const reordered = Object.fromEntries(Object.entries(bucket()).reverse());
    const sig = (doc: unknown): string => parseClusterBuckets(doc, URL).buckets[0].signature;
    assert.equal(sig(a), sig(b));
    assert.equal(sig(a), sig(reordered));
    assert.equal(sig(a), sig(JSON.parse(JSON.stringify(a))));
  });

  it('changes with the map, the servers, the password and the kind', () => {
    const sig = (doc: unknown): string => parseClusterBuckets(doc, URL).buckets[0].signature;
    const base = sig(bucket());
    const changed = [
      bucket({ saslPassword: 'other' }),
      bucket({
        vBucketServerMap: {
          numReplicas: 0,
          serverList: ['10.0.0.1:11210', '10.0.0.2:11210'],
          vBucketMap: [[1], [1], [0], [1]],
        },
      }),
      bucket({
        vBucketServerMap: {
          numReplicas: 0,
          serverList: ['10.0.0.2:11210', '10.0.0.1:11210'],
          vBucketMap: [[0], [1], [0], [1]],
        },
      }),
      bucket({
        vBucketServerMap: {
          numReplicas: 0,
          serverList: ['10.0.0.1:11210', '10.0.0.2:11210'],
          vBucketMap: [[0], [1], [0], [1]],
          vBucketMapForward: [[1], [0], [1], [0]],
        },
      }),
      memcachedBucket([], {
        name: 'b1',
        saslPassword: 'pw',
        vBucketServerMap: { serverList: ['10.0.0.1:11210'] },
      }),
    ];
    const sigs = new Set([base, ...changed.map(sig)]);
    assert.equal(sigs.size, changed.length + 1);
    const m1 = sig(memcachedBucket([node('a', 1), node('b', 2)]));
    assert.notEqual(m1, sig(memcachedBucket([node('a', 1), node('b', 2, 'unhealthy')])));
    assert.equal(m1, sig(memcachedBucket([node('a:8091', 1), node('b:9000', 2)])));
  });
});
