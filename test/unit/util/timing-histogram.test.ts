/**
 * moxi's time_stats histogram (src/util/timing-histogram.ts): its bins (20 x 100 us, then 20 doubling
 * from 2000 us) and the lines `stats proxy timings` draws, as moxi's htgram_dump does.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TIMING_BINS, TimingHistogram, addTimings, timingLines } from '../../../src/util/timing-histogram.ts';

function binOf(ms: number): number {
  const h = new TimingHistogram();
  h.record(ms);
  return h.snapshot().indexOf(1);
}

describe('TimingHistogram', () => {
  it("counts microseconds into moxi's bins", () => {
    assert.equal(TIMING_BINS, 40);
    assert.equal(binOf(0), 0);
    assert.equal(binOf(0.0999), 0);
    assert.equal(binOf(0.1), 1);
    assert.equal(binOf(1.999), 19);
    assert.equal(binOf(2.0), 20); // 2000+100
    assert.equal(binOf(2.1), 21); // 2100+200
    assert.equal(binOf(2.299), 21);
    assert.equal(binOf(2.3), 22); // 2300+400
    // past the last bin (about 104.9 s) and below 0: not kept, as moxi's gt/lt counts are not shown
    assert.equal(binOf(200_000), -1);
    assert.equal(binOf(-1), -1);
  });

  it('puts every duration in the one bin that holds it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100_000_000 }), (us) => {
        const counts = (() => {
          const h = new TimingHistogram();
          h.record(us / 1000);
          return h.snapshot();
        })();
        const i = counts.indexOf(1);
        assert.equal(
          counts.reduce((a, b) => a + b, 0),
          1,
        );
        const lines = timingLines(counts);
        const [range] = lines[0].trim().split('=');
        const [start, width] = range.split('+').map(Number);
        assert.ok(start <= us && us < start + width, `${us} us in bin ${i} (${range})`);
      }),
    );
  });

  it("draws moxi's lines: first counted bin to one past the last, columns aligned, cumulative %", () => {
    const h = new TimingHistogram();
    for (const ms of [0.05, 0.05, 0.05, 0.25, 2.05]) h.record(ms);
    const lines = timingLines(h.snapshot());
    assert.equal(lines.length, 22);
    assert.equal(lines[0], '   0+100=3  60.00% ' + '*'.repeat(24));
    assert.equal(lines[1], ' 100+100=0  60.00% ');
    assert.equal(lines[2], ' 200+100=1  80.00% ' + '*'.repeat(8));
    assert.equal(lines[19], '1900+100=0  80.00% ');
    assert.equal(lines[20], '2000+100=1 100.00% ' + '*'.repeat(8));
    assert.equal(lines[21], '2100+200=0 100.00% ');
    assert.deepEqual(timingLines(new TimingHistogram().snapshot()), []);
  });

  it('sums workers bin by bin and resets', () => {
    const a = new TimingHistogram();
    const b = new TimingHistogram();
    a.record(0.05);
    b.record(0.05);
    b.record(3);
    const sum = addTimings(a.snapshot(), b.snapshot());
    assert.equal(sum[0], 2);
    assert.equal(
      sum.reduce((x, y) => x + y, 0),
      3,
    );
    b.reset();
    assert.deepEqual(b.snapshot(), new Array<number>(40).fill(0));
  });
});
