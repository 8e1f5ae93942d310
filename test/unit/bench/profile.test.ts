/**
 * bench/profile.ts: the summary of a V8 CPU profile that `npm run bench -- --profile` prints under each
 * run. Each sample counts for the time until the next one; idle, collector and V8's own time are
 * shares of their own; functions are named with their place in the repository, or node's module.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { profileLines, summarizeCpuProfile, type CpuProfile } from '../../../bench/profile.ts';

const ROOT = '/repo';

function frame(id: number, functionName: string, url = '', lineNumber = -1): CpuProfile['nodes'][number] {
  return { id, callFrame: { functionName, url, lineNumber } };
}

const NODES: CpuProfile['nodes'] = [
  frame(1, '(root)'),
  frame(2, '(program)'),
  frame(3, '(idle)'),
  frame(4, '(garbage collector)'),
  frame(5, 'route', 'file:///repo/dist/src/proxy/pool.js', 9),
  frame(6, 'writeOrBuffer', 'node:internal/streams/writable', 547),
  frame(7, ''),
  frame(8, 'elsewhere', 'file:///opt/lib/x.js', 0),
];

describe('bench profile summary', () => {
  it('gives each sample the time until the next one, the last until the end', () => {
    // samples at 1000+10, +20, +30, +40, +50 µs; the window ends at 1200
    const profile: CpuProfile = {
      nodes: NODES,
      startTime: 1000,
      endTime: 1200,
      samples: [5, 5, 6, 3, 4],
      timeDeltas: [10, 20, 30, 40, 50],
    };
    const s = summarizeCpuProfile(profile, ROOT);
    // route: 20 + 30 µs, writeOrBuffer 40, idle 50, GC 1200 - 1150 = 50: 190 µs sampled
    assert.equal(s.samples, 5);
    assert.equal(s.sampledMs, 0.19);
    assert.deepEqual(
      s.top.map((f) => [f.name, f.where, Math.round(f.selfPct * 10) / 10]),
      [
        ['route', 'dist/src/proxy/pool.js:10', 26.3],
        ['writeOrBuffer', 'node:internal/streams/writable:548', 21.1],
      ],
    );
    assert.equal(Math.round(s.idlePct * 10) / 10, 26.3);
    assert.equal(Math.round(s.gcPct * 10) / 10, 26.3);
    assert.equal(s.programPct, 0);
  });

  it('names anonymous and native functions, and paths outside the repository in full', () => {
    const profile: CpuProfile = {
      nodes: NODES,
      startTime: 0,
      endTime: 30,
      samples: [7, 8, 2],
      timeDeltas: [0, 10, 10],
    };
    const s = summarizeCpuProfile(profile, ROOT);
    assert.deepEqual(
      s.top.map((f) => [f.name, f.where]),
      [
        ['(anonymous)', '(native)'],
        ['elsewhere', '/opt/lib/x.js:1'],
      ],
    );
    assert.equal(Math.round(s.programPct), 33);
    const lines = profileLines(s, 'p.cpuprofile');
    assert.match(
      lines[0],
      /^ {6}profile p\.cpuprofile: 0 ms, 3 samples; idle 0\.0%, GC 0\.0%, \(program\) 33\.3%/,
    );
    assert.equal(lines.length, 3);
    assert.match(lines[1], /33\.3% {2}\(anonymous\) {2}\(native\)$/);
  });

  it('shares add up to 100% of the sampled time, and the top is in order and at most topN long', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 5000 })), {
          minLength: 1,
          maxLength: 200,
        }),
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 1, max: 8 }),
        (samples, tail, topN) => {
          const deltas = samples.map(([, d]) => d);
          const endTime = deltas.reduce((a, b) => a + b, 0) + tail;
          const s = summarizeCpuProfile(
            { nodes: NODES, startTime: 0, endTime, samples: samples.map(([id]) => id), timeDeltas: deltas },
            ROOT,
            topN,
          );
          assert.ok(s.top.length <= topN);
          for (let i = 1; i < s.top.length; i++) assert.ok(s.top[i - 1].selfPct >= s.top[i].selfPct);
          const sampled = endTime - deltas[0];
          assert.ok(Math.abs(s.sampledMs * 1000 - sampled) < 1e-6);
          if (sampled === 0 || topN < 8) return;
          // with room for every function, what is listed and (root) make up the whole window
          const rootUs = samples.reduce(
            (sum, [id], i) => (id === 1 ? sum + (i + 1 < samples.length ? deltas[i + 1] : tail) : sum),
            0,
          );
          const listed = s.idlePct + s.gcPct + s.programPct + s.top.reduce((a, f) => a + f.selfPct, 0);
          assert.ok(Math.abs(listed + (100 * rootUs) / sampled - 100) < 1e-6);
        },
      ),
    );
  });
});
