import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Clock } from '../../../src/server/clock.ts';
import { DeltaResult, Store, StoreMode, StoreResult, itemTotalSize } from '../../../src/server/store.ts';

/** A store on a clock the test moves by hand. */
function makeStore(
  maxBytes = 1024 * 1024,
  evictions = true,
): { store: Store; advance: (seconds: number) => void } {
  let now = 1_700_000_000_000;
  const clock = new Clock(() => now);
  const store = new Store({ maxBytes, itemSizeMax: 1024 * 1024, evictions, clock });
  return {
    store,
    advance: (seconds: number) => {
      now += seconds * 1000;
    },
  };
}

const set = (
  store: Store,
  key: string,
  value: string,
  mode: StoreMode = StoreMode.Set,
  cas = 0n,
  exptime = 0,
) => store.store(mode, key, 0, exptime, Buffer.from(value), cas).result;
const read = (store: Store, key: string): string | undefined => store.get(key)?.value.toString();

describe('Store', () => {
  it('implements set/add/replace/append/prepend semantics', () => {
    const { store } = makeStore();
    assert.equal(set(store, 'k', 'a', StoreMode.Replace), StoreResult.NotStored);
    assert.equal(set(store, 'k', 'a', StoreMode.Append), StoreResult.NotStored);
    assert.equal(set(store, 'k', 'b', StoreMode.Add), StoreResult.Stored);
    assert.equal(set(store, 'k', 'c', StoreMode.Add), StoreResult.NotStored);
    assert.equal(set(store, 'k', 'd', StoreMode.Replace), StoreResult.Stored);
    assert.equal(set(store, 'k', 'e', StoreMode.Append), StoreResult.Stored);
    assert.equal(set(store, 'k', 'f', StoreMode.Prepend), StoreResult.Stored);
    assert.equal(read(store, 'k'), 'fde');
  });

  it('compares CAS values: match, mismatch, missing, and zero', () => {
    const { store } = makeStore();
    set(store, 'k', 'v');
    const cas = BigInt(store.get('k')!.cas);
    assert.equal(set(store, 'k', 'x', StoreMode.Cas, cas + 1n), StoreResult.Exists);
    assert.equal(set(store, 'k', 'x', StoreMode.Cas, 0n), StoreResult.Exists);
    assert.equal(set(store, 'k', 'x', StoreMode.Cas, cas), StoreResult.Stored);
    assert.equal(set(store, 'nope', 'x', StoreMode.Cas, cas), StoreResult.NotFound);
    assert.ok(store.get('k')!.cas > Number(cas));
  });

  it('imports an item with its CAS (a vBucket move), and keeps later CAS values above it', () => {
    const { store: from } = makeStore();
    const { store: to } = makeStore();
    for (let i = 0; i < 50; i++) set(from, `k${i}`, 'v');
    const item = from.get('k49')!;
    to.importItem(item.key, item.flags, from.expiresAt(item), item.value, false, item.cas);
    assert.equal(to.get('k49')!.cas, item.cas);
    assert.equal(set(to, 'k49', 'w', StoreMode.Cas, BigInt(item.cas)), StoreResult.Stored);
    assert.ok(to.get('k49')!.cas > item.cas);
    // below a flush_all's cut-off it would read as flushed: a new CAS instead
    const { store: flushed } = makeStore();
    for (let i = 0; i < 100; i++) set(flushed, `f${i}`, 'v');
    flushed.flushAll(0);
    flushed.importItem(item.key, item.flags, 0, item.value, false, item.cas);
    assert.equal(read(flushed, 'k49'), 'v');
    assert.ok(flushed.get('k49')!.cas > 100);
  });

  it('increments 64-bit with wrap, decrements to 0, pads shorter numbers in place', () => {
    const { store } = makeStore();
    set(store, 'n', '18446744073709551615');
    assert.equal(store.delta('n', true, 1n, 0n).value, 0n);
    assert.equal(read(store, 'n'), '0'.padEnd(20, ' '));
    set(store, 'm', '100');
    const r = store.delta('m', false, 91n, 0n);
    assert.equal(r.value, 9n);
    assert.equal(read(store, 'm'), '9  ');
    assert.equal(store.delta('m', false, 100n, 0n).value, 0n);
    set(store, 'w', '99');
    assert.equal(store.delta('w', true, 1n, 0n).value, 100n);
    assert.equal(read(store, 'w'), '100');
    set(store, 't', 'abc');
    assert.equal(store.delta('t', true, 1n, 0n).result, DeltaResult.NonNumeric);
    assert.equal(store.delta('missing', true, 1n, 0n).result, DeltaResult.NotFound);
  });

  it('expires items when their relative time has come', () => {
    const { store, advance } = makeStore();
    set(store, 'k', 'v', StoreMode.Set, 0n, store.clock.realtime(2));
    advance(1);
    assert.equal(read(store, 'k'), 'v');
    advance(1);
    assert.equal(read(store, 'k'), undefined);
    assert.equal(store.stats.getExpired, 1);
  });

  it('treats negative and past absolute exptimes as already expired', () => {
    const { store } = makeStore();
    set(store, 'a', 'v', StoreMode.Set, 0n, store.clock.realtime(60 * 60 * 24 * 30 + 1));
    assert.equal(read(store, 'a'), undefined);
  });

  it('flush_all drops everything stored before it, keeps later stores', () => {
    const { store, advance } = makeStore();
    set(store, 'old', 'v');
    advance(3);
    set(store, 'same-second', 'v');
    store.flushAll(0);
    set(store, 'after', 'v');
    assert.equal(read(store, 'old'), undefined);
    assert.equal(read(store, 'same-second'), undefined);
    assert.equal(read(store, 'after'), 'v');
  });

  it('delayed flush_all takes effect when its time comes', () => {
    const { store, advance } = makeStore();
    set(store, 'k', 'v');
    store.flushAll(2);
    assert.equal(read(store, 'k'), 'v');
    advance(2);
    assert.equal(read(store, 'k'), undefined);
  });

  it('evicts least recently used items to stay within its budget', () => {
    const value = 'x'.repeat(1000);
    const cost = itemTotalSize(2, 0, 1000) + 160;
    const { store } = makeStore(cost * 10);
    for (let i = 0; i < 10; i++) set(store, `k${i}`, value);
    store.get('k0');
    set(store, 'kA', value);
    assert.equal(read(store, 'k0'), value);
    assert.equal(read(store, 'k1'), undefined);
    assert.equal(store.stats.evictions, 1);
    assert.ok(store.usedBytes <= cost * 10);
  });

  it('refuses stores instead of evicting with -M', () => {
    const cost = itemTotalSize(2, 0, 100) + 160;
    const { store } = makeStore(cost * 2, false);
    assert.equal(set(store, 'k1', 'x'.repeat(100)), StoreResult.Stored);
    assert.equal(set(store, 'k2', 'x'.repeat(100)), StoreResult.Stored);
    assert.equal(set(store, 'k3', 'x'.repeat(100)), StoreResult.OutOfMemory);
  });

  it('applies memcached item_size_ok to key, flags and value', () => {
    const { store } = makeStore();
    const max = 1024 * 1024;
    assert.equal(store.itemSizeOk(1, 0, max - 60), true);
    assert.equal(store.itemSizeOk(1, 0, max - 59), false);
    assert.equal(store.itemSizeOk(1, 1, max - 64), true);
    assert.equal(store.itemSizeOk(1, 1, max - 63), false);
  });

  it('never exceeds its budget under any sequence of stores', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ key: fc.integer({ min: 0, max: 30 }), size: fc.integer({ min: 0, max: 3000 }) }),
          {
            maxLength: 200,
          },
        ),
        (ops) => {
          const { store } = makeStore(20_000);
          for (const { key, size } of ops) {
            set(store, `k${key}`, 'v'.repeat(size));
            assert.ok(store.usedBytes <= 20_000);
          }
          let count = 0;
          for (const _item of store.entries()) count++;
          assert.equal(count, store.size);
        },
      ),
    );
  });
});
