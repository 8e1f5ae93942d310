/**
 * moxi-cluster's pure parts, in process: the command line, the vBucket placement and rebalance plan
 * (balanced, leaving nodes emptied, nothing moved that need not move), and the bucket JSON, which
 * src/config/vbucket-map.ts must accept.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { parseCommandLine, nodePortFor, BucketType } from '../../src/cluster/args.ts';
import { planRebalance, quota, roundRobin } from '../../src/cluster/placement.ts';
import { bucketJson, type ClusterView } from '../../src/cluster/config-json.ts';
import { parseVBucketServerMap } from '../../src/config/vbucket-map.ts';
import { clusterBin } from '../helpers/cluster.ts';

function counts(owners: Int32Array, nodes: number): number[] {
  const c = new Array<number>(nodes).fill(0);
  for (const o of owners) c[o]++;
  return c;
}

describe('moxi-cluster placement', () => {
  it('assigns round robin with an even share', () => {
    const owners = roundRobin(64, 3);
    assert.deepEqual(counts(owners, 3), [22, 21, 21]);
    assert.deepEqual(Array.from(owners.slice(0, 6)), [0, 1, 2, 0, 1, 2]);
    assert.deepEqual(
      [0, 1, 2].map((i) => quota(64, 3, i)),
      [22, 21, 21],
    );
  });

  it('plans balanced, minimal rebalances between any sizes', () => {
    for (const numVBuckets of [1, 4, 64, 1024]) {
      for (let from = 1; from <= 6; from++) {
        for (let to = 1; to <= 6; to++) {
          const current = roundRobin(numVBuckets, from);
          const { target, moves } = planRebalance(current, to);
          const c = counts(target, to);
          assert.ok(
            target.every((o) => o >= 0 && o < to),
            `${from}->${to}: a vBucket left on a leaving node`,
          );
          assert.ok(Math.max(...c) - Math.min(...c) <= 1, `${from}->${to} (${numVBuckets}): ${c.join(',')}`);
          // minimal: exactly what exceeds the quotas (or sits on leaving nodes) moves
          const before = counts(current, Math.max(from, to));
          let needed = 0;
          for (let i = 0; i < before.length; i++)
            needed += Math.max(0, before[i] - (i < to ? quota(numVBuckets, to, i) : 0));
          assert.equal(moves.length, needed, `${from}->${to} (${numVBuckets})`);
          for (const m of moves) {
            assert.equal(current[m.vbucket], m.from);
            assert.equal(target[m.vbucket], m.to);
            assert.notEqual(m.from, m.to);
          }
          for (let v = 0; v < numVBuckets; v++) {
            if (!moves.some((m) => m.vbucket === v)) assert.equal(target[v], current[v]);
          }
        }
      }
    }
  });

  it('alternates destinations when growing', () => {
    const { moves } = planRebalance(roundRobin(64, 2), 4);
    assert.equal(moves.length, 32);
    assert.deepEqual(
      moves.slice(0, 4).map((m) => m.to),
      [2, 3, 2, 3],
    );
  });
});

describe('moxi-cluster command line', () => {
  it('has defaults', () => {
    const p = parseCommandLine([]);
    assert.equal(p.kind, 'run');
    assert.equal(p.options.nodes, 2);
    assert.equal(p.options.memcached, null);
    assert.deepEqual(p.options.buckets, [{ name: 'default', password: '', type: BucketType.VBucket }]);
    assert.equal(p.options.numVBuckets, 64);
    assert.equal(p.options.restPort, 8091);
    assert.equal(p.options.controlPort, 9091);
    assert.deepEqual(p.options.nodePorts, [12000]);
    assert.equal(p.options.host, '127.0.0.1');
    assert.equal(p.options.admin, null);
    assert.equal(p.options.maxBytes, 64 * 1024 * 1024);
    assert.equal(nodePortFor(p.options.nodePorts, 3), 12003);
  });

  it('parses buckets, types, admin, memory and node ports', () => {
    const p = parseCommandLine([
      '--nodes',
      '3',
      '--buckets',
      'default,other:se:cret,cache',
      '--bucket-type',
      'cache=memcached',
      '--vbuckets',
      '16',
      '--admin',
      'Administrator:pw',
      '-m',
      '8',
      '--node-ports',
      '20001,20005',
      '-vv',
    ]);
    assert.equal(p.kind, 'run');
    assert.deepEqual(
      p.options.buckets.map((b) => [b.name, b.password, b.type]),
      [
        ['default', '', 'vbucket'],
        ['other', 'se:cret', 'vbucket'],
        ['cache', '', 'memcached'],
      ],
    );
    assert.equal(p.options.numVBuckets, 16);
    assert.deepEqual(p.options.admin, { user: 'Administrator', password: 'pw' });
    assert.equal(p.options.maxBytes, 8 * 1024 * 1024);
    assert.equal(p.options.verbosity, 2);
    assert.deepEqual(
      [0, 1, 2].map((s) => nodePortFor(p.options.nodePorts, s)),
      [20001, 20005, 20006],
    );
    const all = parseCommandLine(['--bucket-type', 'memcached', '--buckets', 'a,b']);
    assert.ok(all.kind === 'run' && all.options.buckets.every((b) => b.type === 'memcached'));
    const ext = parseCommandLine(['--memcached', '127.0.0.1:11311,localhost']);
    assert.equal(ext.kind, 'run');
    assert.deepEqual(ext.options.memcached, [
      { host: '127.0.0.1', port: 11311 },
      { host: 'localhost', port: 11211 },
    ]);
    assert.equal(ext.options.nodes, 2);
  });

  it('refuses bad values', () => {
    for (const argv of [
      ['--vbuckets', '48'],
      ['--vbuckets', '0'],
      ['--nodes', '0'],
      ['--nodes', 'x'],
      ['--buckets', 'a,a'],
      ['--buckets', 'bad/name'],
      ['--bucket-type', 'nope=memcached'],
      ['--bucket-type', 'couchstore'],
      ['--admin', 'nopassword'],
      ['--rest-port', '70000'],
      ['--rest-port', '9091'],
      ['--nodes', '2', '--memcached', '127.0.0.1:1'],
      ['--node-ports', '8091'],
      ['--unknown'],
      ['positional'],
    ]) {
      assert.equal(parseCommandLine(argv).kind, 'error', argv.join(' '));
    }
  });

  it('prints usage with -h and fails with a message on a bad flag', async () => {
    const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        execFile(process.execPath, [clusterBin(), ...args], { timeout: 10_000 }, (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
          resolve({ code, stdout, stderr });
        });
      });
    const help = await run(['-h']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: moxi-cluster/);
    assert.match(help.stdout, /POST \/rebalance\?nodes=<n>/);
    const bad = await run(['--vbuckets', '3']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^moxi-cluster: --vbuckets must be a power of two, not 3\n/);
  });
});

describe('moxi-cluster bucket JSON', () => {
  const view: ClusterView = {
    host: '127.0.0.1',
    restPort: 8091,
    nodes: [
      { host: '127.0.0.1', port: 12000 },
      { host: '127.0.0.1', port: 12001 },
    ],
    owners: roundRobin(8, 2),
    forward: null,
  };

  it('is a Couchbase vbucket bucket that parseVBucketServerMap accepts', () => {
    const bucket = { name: 'other', password: 'pw', type: BucketType.VBucket, uuid: 'u1' };
    const json = bucketJson(bucket, view, 7);
    assert.equal(json.rev, 7);
    assert.equal(json.bucketType, 'membase');
    assert.equal(json.nodeLocator, 'vbucket');
    assert.equal(json.uri, '/pools/default/buckets/other?bucket_uuid=u1');
    assert.equal(json.streamingUri, '/pools/default/bucketsStreaming/other?bucket_uuid=u1');
    assert.deepEqual(json.nodes[1], {
      hostname: '127.0.0.1:8091',
      status: 'healthy',
      clusterMembership: 'active',
      ports: { direct: 12001, proxy: 0 },
    });
    assert.equal(json.nodes[0].thisNode, true);
    assert.deepEqual(json.vBucketServerMap, {
      hashAlgorithm: 'CRC',
      numReplicas: 0,
      serverList: ['127.0.0.1:12000', '127.0.0.1:12001'],
      vBucketMap: [[0], [1], [0], [1], [0], [1], [0], [1]],
    });
    const parsed = parseVBucketServerMap(JSON.stringify(json));
    assert.equal(parsed.numVBuckets, 8);
    assert.equal(parsed.user, 'other');
    assert.equal(parsed.password, 'pw');
    assert.equal(parsed.vBucketMapForward, undefined);

    const moving = bucketJson(bucket, { ...view, forward: roundRobin(8, 1) }, 8);
    assert.deepEqual(moving.vBucketServerMap?.vBucketMapForward, [[0], [0], [0], [0], [0], [0], [0], [0]]);
    assert.deepEqual(
      Array.from(parseVBucketServerMap(moving).vBucketMapForward ?? []),
      [0, 0, 0, 0, 0, 0, 0, 0],
    );
  });

  it('is a memcached bucket without a map', () => {
    const json = bucketJson({ name: 'cache', password: '', type: BucketType.Memcached, uuid: 'u2' }, view, 1);
    assert.equal(json.bucketType, 'memcached');
    assert.equal(json.nodeLocator, 'ketama');
    assert.equal(json.vBucketServerMap, undefined);
    assert.deepEqual(
      json.nodes.map((n) => n.ports.direct),
      [12000, 12001],
    );
  });
});
