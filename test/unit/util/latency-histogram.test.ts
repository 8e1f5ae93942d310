/** The fixed-bucket response time counter: bucket edges, sums, and adding workers' counts. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  LATENCY_BOUNDS_MS,
  LatencyHistogram,
  addLatency,
  emptyLatency,
} from '../../../src/util/latency-histogram.ts';

describe('LatencyHistogram', () => {
  it('counts a value in the first bucket whose bound is at least the value (le), past the last in +Inf', () => {
    const h = new LatencyHistogram();
    for (const ms of [0, 0.1, 0.1001, 1, 1.5, 10000, 10000.5, 1e9]) h.record(ms);
    const { counts, sum, count } = h.snapshot();
    const at = (bound: number): number => counts[LATENCY_BOUNDS_MS.indexOf(bound)];
    assert.equal(at(0.1), 2);
    assert.equal(at(0.25), 1);
    assert.equal(at(1), 1);
    assert.equal(at(2.5), 1);
    assert.equal(at(10000), 1);
    assert.equal(counts[LATENCY_BOUNDS_MS.length], 2);
    assert.equal(count, 8);
    assert.equal(sum, 0 + 0.1 + 0.1001 + 1 + 1.5 + 10000 + 10000.5 + 1e9);
    assert.equal(counts.length, LATENCY_BOUNDS_MS.length + 1);
  });

  it('bounds rise strictly', () => {
    for (let i = 1; i < LATENCY_BOUNDS_MS.length; i++)
      assert.ok(LATENCY_BOUNDS_MS[i] > LATENCY_BOUNDS_MS[i - 1]);
  });

  it('adding snapshots is recording both series into one', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 20_000, noNaN: true })),
        fc.array(fc.double({ min: 0, max: 20_000, noNaN: true })),
        (a, b) => {
          const ha = new LatencyHistogram();
          const hb = new LatencyHistogram();
          const both = new LatencyHistogram();
          for (const ms of a) {
            ha.record(ms);
            both.record(ms);
          }
          for (const ms of b) {
            hb.record(ms);
            both.record(ms);
          }
          const added = addLatency(addLatency(emptyLatency(), ha.snapshot()), hb.snapshot());
          const want = both.snapshot();
          assert.deepEqual(added.counts, want.counts);
          assert.equal(added.count, want.count);
          assert.ok(Math.abs(added.sum - want.sum) <= 1e-6 * Math.max(1, want.sum));
        },
      ),
    );
  });
});
