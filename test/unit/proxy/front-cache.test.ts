import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { defaultBehaviors } from '../../../src/config/behaviors.ts';
import { poolSnapshot, proxySnapshot } from '../../helpers/stats-snapshots.ts';
import { FrontCache } from '../../../src/proxy/front-cache.ts';
import { ProxyPool } from '../../../src/proxy/pool.ts';
import { CoarseTimer } from '../../../src/util/coarse-timer.ts';
import { silentLogger } from '../../../src/util/log.ts';
import {
  mergeStatsProxySnapshots,
  renderStatsProxySnapshot,
  type PoolSnapshot,
  type StatsProxySnapshot,
} from '../../../src/proxy/stats-proxy.ts';

const MB = 1024 * 1024;

function cache(max = 10, lifespan = 1000, spec = ['a'], unspec: string[] = [], maxBytes = MB): FrontCache {
  return new FrontCache(max, lifespan, spec, unspec, maxBytes);
}

function wants(c: FrontCache, key: string): boolean {
  const b = Buffer.from(`get ${key}`, 'latin1');
  return c.wants(b, 4, b.length);
}

const value = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('FrontCache: which keys (moxi matcher: literal prefixes, | separated)', () => {
  it('caches keys starting with a spec prefix and no unspec prefix; an empty spec caches nothing', () => {
    const c = cache(10, 1000, ['user:', 'yes'], ['yesno']);
    assert.equal(wants(c, 'user:1'), true);
    assert.equal(wants(c, 'user:'), true);
    assert.equal(wants(c, 'yes-0'), true);
    assert.equal(wants(c, 'yesno-0'), false);
    assert.equal(wants(c, 'use'), false);
    assert.equal(wants(c, 'xuser:1'), false);
    assert.equal(wants(cache(10, 1000, []), 'anything'), false);
  });

  it('is built from the behaviors only when front_cache_lifespan and front_cache_max are both above 0', () => {
    const b = defaultBehaviors();
    assert.equal(FrontCache.fromBehaviors(b, MB), null, 'off by default (lifespan 0)');
    const on = { ...b, front_cache_lifespan: 500, front_cache_spec: '|a||b:|', front_cache_unspec: 'bb' };
    const c = FrontCache.fromBehaviors(on, MB);
    assert.ok(c !== null);
    assert.equal(c.max, b.front_cache_max);
    assert.equal(c.lifespanMs, 500);
    assert.equal(wants(c, 'a1'), true);
    assert.equal(wants(c, 'b:1'), true);
    assert.equal(wants(c, 'bb'), false);
    assert.equal(FrontCache.fromBehaviors({ ...on, front_cache_max: 0 }, MB), null);
  });
});

describe('FrontCache: items', () => {
  it('serves a value until its lifespan ends (inclusive), then counts an expiry and drops it', () => {
    const c = cache(10, 1000);
    assert.equal(c.get('a1', 0), undefined);
    c.add('a1', 7, value('hello'), 5, 100, c.sendMark);
    const hit = c.get('a1', 1100);
    assert.ok(hit !== undefined);
    assert.equal(hit.flags, 7);
    assert.equal(hit.value.toString(), 'hello');
    assert.equal(c.get('a1', 1101), undefined);
    assert.equal(c.size, 0);
    assert.equal(c.get('a1', 1102), undefined);
    assert.deepEqual(
      { ...(c.counters as unknown as Record<string, number>) },
      {
        totGetHits: 1,
        totGetExpires: 1,
        totGetMisses: 2,
        totGetBytes: 7, // moxi counts memcached's nbytes: the value and its "\r\n"
        totAdds: 1,
        totAddSkips: 0,
        totAddFails: 0,
        totAddBytes: 7,
        totDeletes: 0,
        totEvictions: 0,
      },
    );
  });

  it('is add-only: a key already cached keeps its value and its expiry', () => {
    const c = cache(10, 1000);
    c.add('a1', 1, value('old'), 3, 0, c.sendMark);
    c.add('a1', 2, value('new'), 3, 500, c.sendMark);
    assert.equal(c.get('a1', 1000)?.value.toString(), 'old');
    assert.equal(c.get('a1', 1001), undefined, 'the first expiry stands');
    assert.equal(c.counters.totAddSkips, 1);
  });

  it('copies the value: the bytes it was given may be a read buffer that is reused', () => {
    const c = cache();
    const read = value('VALUE a1 0 3\r\nabc\r\n');
    c.add('a1', 0, read.subarray(14, 17), 3, 0, c.sendMark);
    c.add('a2', 0, [value('ab'), value('cd'), value('e')], 5, 0, c.sendMark);
    read.fill(0x78);
    assert.equal(c.get('a1', 1)?.value.toString(), 'abc');
    assert.equal(c.get('a2', 1)?.value.toString(), 'abcde');
  });

  it('evicts the least recently used item, also one never read (moxi refused adds then)', () => {
    const c = cache(3);
    for (const k of ['a1', 'a2', 'a3']) c.add(k, 0, value(k), 2, 0, c.sendMark);
    c.get('a1', 1); // a2 is now the least recently used
    c.add('a4', 0, value('a4'), 2, 1, c.sendMark);
    assert.equal(c.size, 3);
    assert.equal(c.get('a2', 2), undefined);
    assert.ok(c.get('a1', 2) !== undefined);
    assert.ok(c.get('a3', 2) !== undefined);
    assert.ok(c.get('a4', 2) !== undefined);
    assert.equal(c.counters.totEvictions, 1);
    assert.equal(c.counters.totAddFails, 0);
  });

  it('holds at most maxBytes (values, keys and per-item overhead), and refuses an item larger than that', () => {
    const item = FrontCache.cost('a1', 4);
    assert.ok(item > 4 + 2, 'an item costs more than its value and key');
    const c = cache(100, 1000, ['a'], [], 2 * item + 1);
    c.add('a1', 0, Buffer.alloc(4), 4, 0, c.sendMark);
    c.add('a2', 0, Buffer.alloc(4), 4, 0, c.sendMark);
    c.add('a3', 0, Buffer.alloc(4), 4, 0, c.sendMark); // three do not fit: a1 goes
    assert.equal(c.heldBytes, 2 * item);
    assert.equal(c.get('a1', 1), undefined);
    c.add('a4', 0, Buffer.alloc(2 * item), 2 * item, 0, c.sendMark);
    assert.equal(c.counters.totAddFails, 1);
    assert.equal(c.heldBytes, 2 * item);
    // a huge front_cache_max of tiny values stays within the bytes
    const many = cache(1_000_000, 1000, ['k'], [], 64 * 1024);
    for (let i = 0; i < 10_000; i++) many.add(`k${i}`, 0, Buffer.alloc(1), 1, 0, many.sendMark);
    assert.ok(many.heldBytes <= 64 * 1024 && many.size < 200, `${many.size} items, ${many.heldBytes} bytes`);
  });

  it('drops a key on delete (counted only when it was there), everything on clear; counters stay', () => {
    const c = cache();
    c.add('a1', 0, value('x'), 1, 0, c.sendMark);
    c.add('a2', 0, value('y'), 1, 0, c.sendMark);
    c.delete('a1');
    c.delete('a1');
    c.delete('nope');
    assert.equal(c.counters.totDeletes, 1);
    assert.equal(c.size, 1);
    c.clear();
    assert.equal(c.size, 0);
    assert.equal(c.heldBytes, 0);
    assert.equal(c.counters.totAdds, 2);
    c.resetCounters();
    assert.equal(c.counters.totAdds, 0);
    assert.equal(c.counters.totDeletes, 0);
  });

  it('refuses a value from a get sent before its key was dropped (the server may have answered the old one)', () => {
    const c = cache();
    const before = c.sendMark;
    c.delete('a1');
    c.add('a1', 0, value('old'), 3, 0, before);
    assert.equal(c.size, 0, 'sent before the drop');
    c.add('a2', 0, value('fine'), 4, 0, before);
    assert.equal(c.size, 1, 'another key was not dropped');
    c.add('a1', 0, value('new'), 3, 0, c.sendMark);
    assert.equal(c.get('a1', 1)?.value.toString(), 'new', 'sent after the drop');
    const beforeClear = c.sendMark;
    c.clear();
    c.add('a3', 0, value('old'), 3, 0, beforeClear);
    assert.equal(c.size, 0, 'sent before a flush_all');
    c.add('a3', 0, value('new'), 3, 0, c.sendMark);
    assert.equal(c.size, 1);
    // past the drops it remembers, a get sent before the oldest forgotten one is refused whatever its key
    const long = c.sendMark;
    for (let i = 0; i < 5000; i++) c.delete(`b${i}`);
    c.add('a4', 0, value('old'), 3, 0, long);
    assert.equal(c.get('a4', 1), undefined);
    c.add('a4', 0, value('new'), 3, 0, c.sendMark);
    assert.equal(c.get('a4', 1)?.value.toString(), 'new');
  });

  it('agrees with a model LRU cache over random operations (size, bytes and values)', () => {
    const key = fc.constantFrom('a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7');
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), key, length: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ kind: fc.constant('get' as const), key }),
      fc.record({ kind: fc.constant('delete' as const), key }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 150 }) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.array(op, { minLength: 50, maxLength: 200 }),
        (max, ops) => {
          // room for about three items of the longest value, so eviction by bytes happens too
          const maxBytes = 3 * FrontCache.cost('a0', 40);
          const c = cache(max, 500, ['a'], [], maxBytes);
          // the model: a Map in LRU order of key -> [value, expires]
          const model = new Map<string, [string, number]>();
          let now = 0;
          let serial = 0;
          const bytes = (): number => [...model].reduce((n, [k, [v]]) => n + FrontCache.cost(k, v.length), 0);
          for (const o of ops) {
            if (o.kind === 'tick') now += o.ms;
            else if (o.kind === 'add') {
              const v = `${serial++}`.padEnd(o.length, '.').slice(0, o.length);
              c.add(o.key, 0, value(v), v.length, now, c.sendMark);
              const had = model.get(o.key);
              if (had !== undefined) {
                model.delete(o.key);
                model.set(o.key, had);
              } else if (FrontCache.cost(o.key, v.length) <= maxBytes) {
                const cost = FrontCache.cost(o.key, v.length);
                while (model.size > 0 && (model.size >= max || bytes() + cost > maxBytes))
                  model.delete(model.keys().next().value!);
                model.set(o.key, [v, now + 500]);
              }
            } else if (o.kind === 'get') {
              const got = c.get(o.key, now);
              const had = model.get(o.key);
              model.delete(o.key);
              if (had !== undefined && had[1] >= now) {
                model.set(o.key, had);
                assert.equal(got?.value.toString('latin1'), had[0]);
              } else {
                assert.equal(got, undefined);
              }
            } else {
              c.delete(o.key);
              model.delete(o.key);
            }
            assert.equal(c.size, model.size);
            assert.equal(c.heldBytes, bytes());
            assert.ok(c.size <= max && c.heldBytes <= maxBytes);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('ProxyPool and its front cache', () => {
  it('empties the cache on every configuration, changed or not (moxi restarts it), and on flush_all', () => {
    const timer = new CoarseTimer(50);
    const behaviors = { ...defaultBehaviors(), front_cache_lifespan: 1000, front_cache_spec: 'a' };
    const pool = new ProxyPool({
      port: 1,
      name: 'default',
      user: '',
      password: '',
      behaviors,
      log: silentLogger(),
      timer,
    });
    try {
      const c = pool.frontCache!;
      c.add('a1', 0, value('x'), 1, 0, c.sendMark);
      pool.configure(null, 'same');
      assert.equal(c.size, 0);
      c.add('a1', 0, value('x'), 1, 0, c.sendMark);
      pool.configure(null, 'same');
      assert.equal(c.size, 0, 'an unchanged configuration empties it too');
      c.add('a1', 0, value('x'), 1, 0, c.sendMark);
      c.add('a2', 0, value('y'), 1, 0, c.sendMark);
      pool.forgetKey(Buffer.from('a1'));
      assert.equal(c.size, 1);
      pool.forgetAll();
      assert.equal(c.size, 0);
      assert.equal(c.counters.totAdds, 4, 'the counters stay');
    } finally {
      timer.stop();
    }
  });

  it('has no front cache by default', () => {
    const timer = new CoarseTimer(50);
    const pool = new ProxyPool({
      port: 1,
      name: 'default',
      user: '',
      password: '',
      behaviors: defaultBehaviors(),
      log: silentLogger(),
      timer,
    });
    timer.stop();
    assert.equal(pool.frontCache, null);
  });
});

describe('stats proxy frontcache', () => {
  function snapshot(frontCache: PoolSnapshot['frontCache']): StatsProxySnapshot {
    return proxySnapshot([{ ...poolSnapshot({ servers: [] }), configText: '', frontCache }]);
  }
  const counters = (n: number): Record<string, number> => {
    const c = cache();
    return Object.fromEntries(Object.keys(c.counters).map((k) => [k, n]));
  };

  it("lists moxi's lines in moxi's order; size only while the cache is on", () => {
    const on = renderStatsProxySnapshot(
      snapshot({ on: true, size: 3, max: 200, counters: counters(1) }),
      'frontcache',
    );
    assert.equal(
      on,
      [
        'size 3',
        'max 200',
        'oldest_live 0',
        'tot_get_hits 1',
        'tot_get_expires 1',
        'tot_get_misses 1',
        'tot_get_bytes 1',
        'tot_adds 1',
        'tot_add_skips 1',
        'tot_add_fails 1',
        'tot_add_bytes 1',
        'tot_deletes 1',
        'tot_evictions 1',
      ]
        .map((l) => `STAT 11211:default:frontcache:${l}\r\n`)
        .join('') + 'END\r\n',
    );
    const off = renderStatsProxySnapshot(snapshot({ on: false, size: 0, max: 0, counters: counters(0) }), '');
    assert.ok(off.includes('STAT 11211:default:frontcache:max 0\r\n'));
    assert.ok(!off.includes('frontcache:size'));
    const stats = renderStatsProxySnapshot(
      snapshot({ on: true, size: 1, max: 1, counters: counters(0) }),
      'stats',
    );
    assert.ok(!stats.includes('frontcache'), 'stats proxy stats leaves it out');
  });

  it('adds up the workers’ caches with -t N', () => {
    const merged = mergeStatsProxySnapshots([
      snapshot({ on: true, size: 3, max: 200, counters: counters(2) }),
      snapshot({ on: true, size: 4, max: 200, counters: counters(5) }),
    ]);
    const fcs = merged.pools[0].frontCache;
    assert.equal(fcs.size, 7);
    assert.equal(fcs.max, 400);
    assert.equal(fcs.counters['totGetHits'], 7);
  });
});
