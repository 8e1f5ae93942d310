// Properties of key routing: every key lands on a real server, routing is a pure function of the
// server list and the key, a ketama ring moves only the new server's share of keys when a server is
// added, and NOT_MY_VBUCKET learning cycles through every server.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseVBucketServerMap } from '../../src/config/vbucket-map.ts';
import { KetamaRouter, type Distribution, type KetamaServer } from '../../src/routing/ketama.ts';
import { VBucketRouter } from '../../src/routing/vbucket.ts';

const keyArb = fc.uint8Array({ maxLength: 250 }).map((a) => Buffer.from(a));
const keysArb = fc.array(keyArb, { minLength: 1, maxLength: 50 });
const distributionArb = fc.constantFrom<Distribution>('ketama-weighted', 'ketama', 'modula');
const serverArb: fc.Arbitrary<KetamaServer> = fc.record({
  host: fc.oneof(fc.ipV4(), fc.domain(), fc.string({ minLength: 1, maxLength: 20 })),
  port: fc.oneof(fc.constant(11211), fc.integer({ min: 1, max: 65535 })),
  weight: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 100 })),
});
const serversArb = fc.array(serverArb, { minLength: 1, maxLength: 12 });

/** Deterministic, well-spread test keys. */
function sampleKeys(count: number, salt: string): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.from(`${salt}:${i}`));
}

describe('ketama routing properties', () => {
  it('maps every key to a valid server index', () => {
    fc.assert(
      fc.property(serversArb, distributionArb, keysArb, (servers, distribution, keys) => {
        const r = new KetamaRouter(servers, distribution);
        for (const key of keys) {
          const i = r.serverIndex(key);
          assert.ok(Number.isInteger(i) && i >= 0 && i < servers.length);
          if (servers.length === 1) assert.equal(i, 0);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('finds, for any hash, the server of the first continuum point at or above it (wrapping)', () => {
    const ketama = fc.constantFrom<Distribution>('ketama-weighted', 'ketama');
    const hashes = fc.array(fc.nat({ max: 0xffffffff }), { minLength: 1, maxLength: 40 });
    fc.assert(
      fc.property(fc.array(serverArb, { minLength: 2, maxLength: 12 }), ketama, hashes, (servers, d, hs) => {
        const r = new KetamaRouter(servers, d);
        const points = r.continuum;
        // the points themselves, their neighbours, the ends of the range, and random hashes
        const probes = [0, 0xffffffff, ...hs];
        for (const p of points.slice(0, 20)) probes.push(p.value, Math.max(0, p.value - 1), p.value + 1);
        for (const hash of probes) {
          const first = points.findIndex((p) => p.value >= hash);
          const want = points[first === -1 ? 0 : first].server;
          assert.equal(r.serverForHash(hash >>> 0), want, `hash ${hash}`);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('is deterministic: same list and key, same server', () => {
    fc.assert(
      fc.property(serversArb, distributionArb, keysArb, (servers, distribution, keys) => {
        const r1 = new KetamaRouter(servers, distribution);
        const r2 = new KetamaRouter(
          servers.map((s) => ({ ...s })),
          distribution,
        );
        assert.deepEqual(r1.continuum, r2.continuum);
        for (const key of keys) {
          const i = r1.serverIndex(key);
          assert.equal(r1.serverIndex(Buffer.from(key)), i);
          assert.equal(r2.serverIndex(key), i);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('keeps a sorted continuum whose size follows the point counts', () => {
    fc.assert(
      fc.property(serversArb, fc.constantFrom<Distribution>('ketama-weighted', 'ketama'), (servers, d) => {
        const points = new KetamaRouter(servers, d).continuum;
        for (let i = 1; i < points.length; i++) {
          const a = points[i - 1];
          const b = points[i];
          assert.ok(a.value < b.value || (a.value === b.value && a.server <= b.server));
        }
        if (d === 'ketama') assert.equal(points.length, 100 * servers.length);
        else assert.ok(points.length <= 160 * servers.length && points.length % 4 === 0);
      }),
      { numRuns: 60 },
    );
  });

  it('moves only about 1/(n+1) of the keys, all to the new server, when a server is added', () => {
    const hostsArb = fc.uniqueArray(fc.ipV4(), { minLength: 2, maxLength: 10 });
    fc.assert(
      fc.property(
        hostsArb,
        fc.ipV4(),
        fc.constantFrom<Distribution>('ketama-weighted', 'ketama'),
        (hosts, extra, d) => {
          fc.pre(!hosts.includes(extra));
          const before = hosts.map((host) => ({ host, port: 11211, weight: 0 }));
          const after = [...before, { host: extra, port: 11211, weight: 0 }];
          const r1 = new KetamaRouter(before, d);
          const r2 = new KetamaRouter(after, d);
          const keys = sampleKeys(2000, hosts.join());
          let moved = 0;
          for (const key of keys) {
            const i1 = r1.serverIndex(key);
            const i2 = r2.serverIndex(key);
            if (i1 !== i2) {
              moved++;
              assert.equal(i2, before.length, 'a moved key goes to the new server');
            }
          }
          const share = 1 / after.length;
          assert.ok(
            moved / keys.length < 2 * share + 0.05,
            `moved ${moved}/${keys.length}, n=${after.length}`,
          );
        },
      ),
      { numRuns: 40 },
    );
  });

  it('modula moves most keys when a server is added (for contrast)', () => {
    const before = ['m1', 'm2', 'm3', 'm4'].map((host) => ({ host, port: 11211 }));
    const r1 = new KetamaRouter(before, 'modula');
    const r2 = new KetamaRouter([...before, { host: 'm5', port: 11211 }], 'modula');
    const keys = sampleKeys(2000, 'modula');
    const moved = keys.filter((k) => r1.serverIndex(k) !== r2.serverIndex(k)).length;
    assert.ok(moved > keys.length / 2);
  });
});

describe('vBucket routing properties', () => {
  const mapArb = fc
    .record({
      servers: fc.integer({ min: 1, max: 8 }),
      log2: fc.integer({ min: 0, max: 12 }),
      seed: fc.integer(),
    })
    .map(({ servers, log2, seed }) => {
      const n = 1 << log2;
      const rows = Array.from({ length: n }, (_, v) => [Math.abs(seed + v * 7) % servers]);
      return parseVBucketServerMap({
        numReplicas: 0,
        serverList: Array.from({ length: servers }, (_, i) => `s${i}:${11211 + i}`),
        vBucketMap: rows,
      });
    });

  it('maps every key to a vBucket in range and to its master', () => {
    fc.assert(
      fc.property(mapArb, keysArb, (map, keys) => {
        const r = new VBucketRouter(map);
        for (const key of keys) {
          const v = r.vbucketOf(key);
          assert.ok(Number.isInteger(v) && v >= 0 && v < map.numVBuckets);
          const i = r.serverIndex(key);
          assert.equal(i, r.masterOf(v));
          assert.ok(i >= 0 && i < map.servers.length);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('NOT_MY_VBUCKET from the current master visits every server and returns after n steps', () => {
    fc.assert(
      fc.property(mapArb, fc.nat(), (map, pick) => {
        const r = new VBucketRouter(map);
        const v = pick % map.numVBuckets;
        const start = r.masterOf(v);
        const seen = new Set<number>();
        for (let step = 0; step < map.servers.length; step++) {
          seen.add(r.masterOf(v));
          r.foundIncorrectMaster(v, r.masterOf(v));
        }
        assert.equal(seen.size, map.servers.length);
        assert.equal(r.masterOf(v), start);
      }),
      { numRuns: 100 },
    );
  });
});
