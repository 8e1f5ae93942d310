/**
 * libmemcached's conformance tool through moxi.ts in cluster mode: `memccapable -b` (binary, b2b) and
 * `memccapable -a` (text, a2b) against the default bucket of a 2-node bin/moxi-cluster must pass every
 * test they pass against this machine's memcached directly (the baseline is measured first). The
 * default bucket is a vBucket bucket whose keys are spread over both nodes, and moxi.ts logs in to
 * them with SASL PLAIN as `default`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { memccapableVerdicts, runMemccapable } from '../helpers/memccapable.ts';
import { startCluster, type ClusterHandle } from '../helpers/cluster.ts';
import { startMemcached, type MultiPortHandle, type ServerHandle } from '../helpers/processes.ts';
import { startClusterProxy } from '../helpers/proxy.ts';

const IO_TIMEOUT_S = 3;
const RUN_DEADLINE_MS = 40_000;
const SUITE_TIMEOUT = { timeout: 150_000 };

type Mode = '-a' | '-b';

describe('cluster mode: memccapable through moxi.ts (default bucket)', SUITE_TIMEOUT, () => {
  const memcacheds: ServerHandle[] = [];
  let cluster: ClusterHandle;
  let moxi: MultiPortHandle;
  const baseline = new Map<Mode, string[]>();

  before(async () => {
    // the baselines (one memcached each, side by side) while the cluster and moxi.ts start
    const baselines = Promise.all(
      (['-b', '-a'] as const).map(async (mode) => {
        const mc = await startMemcached({ memoryMb: 64 });
        memcacheds.push(mc);
        const run = await runMemccapable({
          host: '127.0.0.1',
          port: mc.port,
          mode,
          verbose: true,
          ioTimeoutS: IO_TIMEOUT_S,
          deadlineMs: RUN_DEADLINE_MS,
        });
        const passed = [...memccapableVerdicts(run.output)].filter(([, v]) => v === 'pass').map(([k]) => k);
        assert.ok(
          passed.length >= 20,
          `memccapable ${mode} against memcached passed only ${passed.length}:\n${run.output}`,
        );
        baseline.set(mode, passed);
        await mc.stop();
      }),
    );
    cluster = await startCluster({ nodes: 2 });
    moxi = await startClusterProxy((port) => [
      '-z',
      `url=${cluster.streamingUrl('default')}`,
      '-Z',
      `port_listen=${port}`,
    ]);
    await baselines;
  });
  after(async () => {
    await moxi.stop();
    await cluster.stop();
    await Promise.all(memcacheds.map((m) => m.stop()));
  });

  for (const [mode, name] of [
    ['-b', 'binary (b2b)'],
    ['-a', 'text (a2b)'],
  ] as const) {
    it(`memccapable ${mode}: every ${name} test memcached passes`, async () => {
      const run = await runMemccapable({
        host: '127.0.0.1',
        port: moxi.port,
        mode,
        verbose: true,
        ioTimeoutS: IO_TIMEOUT_S,
        deadlineMs: RUN_DEADLINE_MS,
      });
      const report = `memccapable ${mode} exited with ${run.signal ?? `code ${run.code}`}; output:\n${run.output}`;
      assert.equal(run.signal, null, `memccapable was killed (deadline ${RUN_DEADLINE_MS} ms)\n${report}`);
      const got = memccapableVerdicts(run.output);
      const failed = (baseline.get(mode) ?? []).filter((t) => got.get(t) !== 'pass');
      assert.deepEqual(failed, [], `tests memcached passes that fail through moxi.ts\n${report}`);
      assert.ok(!moxi.exited(), `moxi.ts exited during memccapable:\n${moxi.output()}`);
    });
  }
});
