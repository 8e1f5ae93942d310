import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { keyList } from '../../helpers/keys.ts';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseHostList } from '../../../src/config/cluster-config.ts';
import { ketamaHash, oneAtATime } from '../../../src/routing/hash.ts';
import {
  Distribution,
  KetamaRouter,
  ketamaPointName,
  ketamaPointsPerServer,
  parseDistribution,
  type KetamaServer,
} from '../../../src/routing/ketama.ts';

function fixture(name: string): string {
  const rel = join('test', 'fixtures', 'routing', name);
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, rel))) return join(dir, rel);
    if (dirname(dir) === dir) break;
  }
  return join(process.cwd(), rel);
}

interface FixtureCase {
  name: string;
  distribution: Distribution;
  config: string;
  servers: KetamaServer[];
  indexes: number[];
}

interface Fixture {
  keys: string[];
  cases: FixtureCase[];
}

const b = (s: string): Buffer => Buffer.from(s);

function route(list: string, keys: string[], distribution?: Distribution): string[] {
  const router = new KetamaRouter(parseHostList(list), distribution);
  return keys.map((k) => {
    const s = router.servers[router.serverIndex(b(k))];
    return `${s.host}:${s.port}`;
  });
}

describe('parseDistribution (mcs_opts)', () => {
  it('defaults to ketama-weighted', () => {
    assert.equal(parseDistribution(''), 'ketama-weighted');
    assert.equal(parseDistribution('distribution:bogus'), 'ketama-weighted');
    assert.equal(parseDistribution('Distribution:modula'), 'ketama-weighted');
  });

  it('recognises the three names by substring, weighted first', () => {
    assert.equal(parseDistribution('distribution:ketama-weighted'), Distribution.KETAMA_WEIGHTED);
    assert.equal(parseDistribution('distribution:ketama'), Distribution.KETAMA);
    assert.equal(parseDistribution('distribution:modula'), Distribution.MODULA);
    assert.equal(parseDistribution('x,distribution:modula,y'), Distribution.MODULA);
    assert.equal(parseDistribution('distribution:ketamax'), Distribution.KETAMA);
    assert.equal(parseDistribution('distribution:ketama distribution:ketama-weighted'), 'ketama-weighted');
  });
});

describe('ketamaPointsPerServer', () => {
  const servers = (weights: number[]): KetamaServer[] =>
    weights.map((weight, i) => ({ host: `h${i}`, port: 11211, weight }));

  it('gives 160 points to each of equally weighted servers', () => {
    for (let n = 1; n <= 20; n++) {
      assert.deepEqual(ketamaPointsPerServer(servers(Array<number>(n).fill(0))), Array<number>(n).fill(160));
      assert.deepEqual(ketamaPointsPerServer(servers(Array<number>(n).fill(7))), Array<number>(n).fill(160));
    }
  });

  it('treats weight 0 (or none) as 1', () => {
    assert.deepEqual(ketamaPointsPerServer(servers([0, 1, 2])), ketamaPointsPerServer(servers([1, 1, 2])));
    assert.deepEqual(ketamaPointsPerServer([{ host: 'a', port: 1 }]), [160]);
  });

  it('scales by weight and rounds down to whole MD5s, in single precision', () => {
    assert.deepEqual(ketamaPointsPerServer(servers([1, 3, 2, 5])), [56, 172, 116, 288]);
    // 6/25 × 40 × 5 is 48 exactly, but 47.99999 in float: libmemcached gives 188, not 192.
    assert.deepEqual(ketamaPointsPerServer(servers([5, 6, 4, 4, 6])), [160, 188, 124, 124, 188]);
  });

  it('gives 100 points for ketama and none for modula', () => {
    assert.deepEqual(ketamaPointsPerServer(servers([1, 5]), 'ketama'), [100, 100]);
    assert.deepEqual(ketamaPointsPerServer(servers([1, 5]), 'modula'), [0, 0]);
  });
});

describe('ketamaPointName', () => {
  it('omits port 11211', () => {
    assert.equal(ketamaPointName({ host: '10.0.0.1', port: 11211 }, 0), '10.0.0.1-0');
    assert.equal(ketamaPointName({ host: '10.0.0.1', port: 11212 }, 39), '10.0.0.1:11212-39');
    assert.equal(ketamaPointName({ host: 'localhost', port: 1 }, 7), 'localhost:1-7');
  });
});

describe('KetamaRouter (ketama-weighted)', () => {
  const KEYS = ['hello', 'foo', 'k0', 'k1', 'user:1234'];

  it('routes the spec §5.4 vectors (verified against moxi)', () => {
    assert.deepEqual(route('127.0.0.1:11421,127.0.0.1:11422,127.0.0.1:11423', KEYS), [
      '127.0.0.1:11421',
      '127.0.0.1:11422',
      '127.0.0.1:11423',
      '127.0.0.1:11423',
      '127.0.0.1:11423',
    ]);
  });

  it('routes the spec §5.4 port-11211 vectors', () => {
    assert.deepEqual(route('10.0.0.1:11211,10.0.0.2:11211', KEYS), [
      '10.0.0.2:11211',
      '10.0.0.2:11211',
      '10.0.0.1:11211',
      '10.0.0.1:11211',
      '10.0.0.1:11211',
    ]);
    assert.deepEqual(route('10.0.0.1,10.0.0.2', KEYS), route('10.0.0.1:11211,10.0.0.2:11211', KEYS));
  });

  it('builds the continuum from "host-i" on port 11211 and "host:port-i" elsewhere', () => {
    const r = new KetamaRouter([
      { host: '10.0.0.1', port: 11211 },
      { host: '10.0.0.2', port: 11300 },
    ]);
    const values = new Set(r.continuum.map((p) => p.value));
    for (let a = 0; a < 4; a++) {
      assert.ok(values.has(ketamaHash(b('10.0.0.1-0'), a)));
      assert.ok(values.has(ketamaHash(b('10.0.0.1-39'), a)));
      assert.ok(values.has(ketamaHash(b('10.0.0.2:11300-0'), a)));
      assert.ok(values.has(ketamaHash(b('10.0.0.2:11300-39'), a)));
    }
    assert.ok(!values.has(ketamaHash(b('10.0.0.1:11211-0'))));
    assert.ok(!values.has(ketamaHash(b('10.0.0.1-40'))));
  });

  it('hashes the host as written', () => {
    const a = new KetamaRouter(parseHostList('localhost:11300,127.0.0.1:11301'));
    const c = new KetamaRouter(parseHostList('127.0.0.1:11300,127.0.0.1:11301'));
    assert.notDeepEqual(a.continuum, c.continuum);
  });

  it('keeps a sorted continuum of 160 points per equal server', () => {
    const r = new KetamaRouter(parseHostList('a,b,c,d'));
    assert.equal(r.continuumLength, 640);
    const points = r.continuum;
    for (let i = 1; i < points.length; i++) assert.ok(points[i - 1].value <= points[i].value);
    for (let s = 0; s < 4; s++) assert.equal(points.filter((p) => p.server === s).length, 160);
  });

  it('picks the first point >= the hash and wraps past the last', () => {
    const r = new KetamaRouter(parseHostList('a:1,b:2,c:3'));
    const points = r.continuum;
    const last = points[points.length - 1];
    assert.equal(r.serverForHash(0), points[0].server);
    assert.equal(r.serverForHash(points[0].value), points[0].server);
    assert.equal(r.serverForHash(points[0].value + 1), points[1].server);
    assert.equal(r.serverForHash(points[200].value), points[200].server);
    assert.equal(r.serverForHash(points[200].value - 1), points[200].server);
    assert.equal(r.serverForHash(last.value), last.server);
    assert.ok(last.value < 0xffffffff);
    assert.equal(r.serverForHash(last.value + 1), points[0].server);
    assert.equal(r.serverForHash(0xffffffff), points[0].server);
  });

  it('routes a key by the first 4 bytes of its MD5', () => {
    const r = new KetamaRouter(parseHostList('a:1,b:2,c:3'));
    for (const k of KEYS) assert.equal(r.serverIndex(b(k)), r.serverForHash(ketamaHash(b(k))));
  });

  it('sends everything to index 0 with one server and returns -1 with none', () => {
    for (const d of ['ketama-weighted', 'ketama', 'modula'] as const) {
      const one = new KetamaRouter([{ host: 'solo', port: 11222, weight: 0 }], d);
      for (const k of [...KEYS, '']) assert.equal(one.serverIndex(b(k)), 0);
      assert.equal(new KetamaRouter([], d).serverIndex(b('x')), -1);
    }
  });

  it('does not keep the caller array', () => {
    const list = parseHostList('a,b');
    const r = new KetamaRouter(list);
    list.pop();
    assert.equal(r.servers.length, 2);
  });

  it("reproduces libvbucket's ketama MD5 vector (spec §5.3)", () => {
    // 8 servers, each 40 "host:port-i" MD5s × 4 points: the same continuum as ketama-weighted.
    const servers = Array.from({ length: 8 }, (_, i) => ({ host: '172.16.16.76', port: 12000 + 2 * i }));
    const names = servers.map((s) => b(`${s.host}:${s.port}`));
    const r = new KetamaRouter(servers);
    const digest = createHash('md5');
    for (let i = 0; i < 1_000_000; i++) digest.update(names[r.serverIndex(b(String(i)))]);
    assert.equal(digest.digest('hex'), '7f4da8f120e89d695094f45a74346dbe');
  });
});

describe('KetamaRouter (ketama, modula)', () => {
  it('ketama: 100 single-point MD5s per server, weights ignored', () => {
    const r = new KetamaRouter(parseHostList('a:11211:1,b:11300:9'), 'ketama');
    assert.equal(r.continuumLength, 200);
    const values = new Set(r.continuum.map((p) => p.value));
    assert.ok(values.has(ketamaHash(b('a-0'))));
    assert.ok(values.has(ketamaHash(b('a-99'))));
    assert.ok(values.has(ketamaHash(b('b:11300-99'))));
    assert.ok(!values.has(ketamaHash(b('a-0'), 1)));
  });

  it('modula: one-at-a-time(key) % servers', () => {
    const r = new KetamaRouter(parseHostList('m1,m2,m3'), 'modula');
    assert.equal(r.continuumLength, 0);
    for (const k of ['apple', 'beat', 'carrot', 'hello']) {
      assert.equal(r.serverIndex(b(k)), oneAtATime(b(k)) % 3);
    }
    // "apple" one_at_a_time = 2297466611 (libmemcached test vector); % 3 = 2
    assert.equal(r.serverIndex(b('apple')), 2);
  });
});

describe('KetamaRouter against libmemcached 1.1.4', () => {
  const data = JSON.parse(readFileSync(fixture('libmemcached-1.1.4.json'), 'utf8')) as Fixture;
  const keys = data.keys.map((h) => Buffer.from(h, 'hex'));

  it('has a few hundred keys in each case', () => {
    assert.ok(keys.length >= 300);
    assert.ok(data.cases.length >= 10);
  });

  for (const c of data.cases) {
    it(`${c.distribution}: ${c.name}`, () => {
      assert.equal(c.indexes.length, keys.length);
      const fromList = new KetamaRouter(c.servers, c.distribution);
      const fromConfig = new KetamaRouter(parseHostList(c.config), c.distribution);
      const mismatches: string[] = [];
      keys.forEach((key, i) => {
        const got = fromList.serverIndex(key);
        if (got !== c.indexes[i]) mismatches.push(`${key.toString('hex')}: ${got} != ${c.indexes[i]}`);
        assert.equal(fromConfig.serverIndex(key), got);
      });
      assert.deepEqual(mismatches, []);
    });
  }
});

describe('KetamaRouter.keyHashes', () => {
  it('gives each key its keyHash, for every distribution', () => {
    for (const distribution of [Distribution.KETAMA_WEIGHTED, Distribution.KETAMA, Distribution.MODULA]) {
      const router = new KetamaRouter(
        parseHostList('127.0.0.1:11211,127.0.0.1:11212,127.0.0.1:11213'),
        distribution,
      );
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 70 }), { maxLength: 12 }), (keys) => {
          const out = new Uint32Array(keys.length);
          router.keyHashes(keyList(keys), out);
          keys.forEach((key, i) => {
            assert.equal(out[i], router.keyHash(key));
          });
        }),
        { numRuns: 300 },
      );
    }
  });
});
