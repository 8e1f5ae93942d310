import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FlushBatch, type Flushable } from '../../../src/util/flush-batch.ts';

class Item implements Flushable {
  flushQueued = false;
  flushes = 0;
  onFlush: (() => void) | null = null;
  flush(): void {
    this.flushes++;
    this.onFlush?.();
  }
}

describe('FlushBatch', () => {
  it('flushes each item once per scheduled run, however often it was added', () => {
    const runs: (() => void)[] = [];
    const batch = new FlushBatch<Item>((run) => runs.push(run));
    const a = new Item();
    const b = new Item();
    batch.add(a);
    batch.add(b);
    batch.add(a);
    assert.equal(runs.length, 1, 'one run scheduled');
    runs[0]();
    assert.deepEqual([a.flushes, b.flushes], [1, 1]);
    batch.add(a);
    assert.equal(runs.length, 2, 'a new run once the last one happened');
    runs[1]();
    assert.deepEqual([a.flushes, b.flushes], [2, 1]);
  });

  it('leaves what a flush adds, the item itself included, to the next run', () => {
    const runs: (() => void)[] = [];
    const batch = new FlushBatch<Item>((run) => runs.push(run));
    const a = new Item();
    const b = new Item();
    a.onFlush = () => {
      a.onFlush = null;
      batch.add(b);
      batch.add(a);
    };
    batch.add(a);
    runs[0]();
    assert.deepEqual([a.flushes, b.flushes], [1, 0]);
    assert.equal(runs.length, 2, 'a next run is scheduled for them');
    runs[1]();
    assert.deepEqual([a.flushes, b.flushes], [2, 1]);
    assert.equal(runs.length, 2, 'nothing left');
  });
});
