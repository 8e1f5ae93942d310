/**
 * libmemcached's conformance tool through moxi.ts in cluster mode: `memccapable -b` (binary, b2b) and
 * `memccapable -a` (text, a2b) against the default bucket of a 2-node bin/moxi-cluster must pass every
 * test they pass against this machine's memcached directly (the baseline is measured first). The
 * default bucket is a vBucket bucket whose keys are spread over both nodes, and moxi.ts logs in to
 * them with SASL PLAIN as `default`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { startCluster, type ClusterHandle } from '../helpers/cluster.ts';
import { startMemcached, type MultiPortHandle, type ServerHandle } from '../helpers/processes.ts';
import { startClusterProxy } from '../helpers/proxy.ts';

const MEMCCAPABLE =
  process.env['MEMCCAPABLE_BIN'] ??
  (existsSync('/usr/bin/memccapable') ? '/usr/bin/memccapable' : 'memccapable');
const IO_TIMEOUT_S = 3;
const RUN_DEADLINE_MS = 40_000;
const SUITE_TIMEOUT = { timeout: 150_000 };

type Mode = '-a' | '-b';

interface Run {
  readonly code: number | null;
  readonly signal: string | null;
  readonly output: string;
}

function runMemccapable(port: number, mode: Mode): Promise<Run> {
  // -v prints the failing assertion of a failed test
  const args = ['-h', '127.0.0.1', '-p', String(port), mode, '-v', '-t', String(IO_TIMEOUT_S)];
  return new Promise((resolve) => {
    execFile(
      MEMCCAPABLE,
      args,
      { timeout: RUN_DEADLINE_MS, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string; signal?: string | null }) | null;
        resolve({
          code: e === null ? 0 : typeof e.code === 'number' ? e.code : null,
          signal: e?.signal ?? null,
          output: `${stdout}${stderr}${e && typeof e.code === 'string' ? `\n(${e.code}: ${e.message})` : ''}`,
        });
      },
    );
  });
}

/** Per-test verdicts from lines like "binary getkq                            [pass]". */
function verdicts(output: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of output.split('\n')) {
    const match = /^((?:ascii|binary) [\w ]+?)\s+\[(\w+)\]\s*$/.exec(line.trim());
    if (match) m.set(match[1], match[2]);
  }
  return m;
}

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
        const run = await runMemccapable(mc.port, mode);
        const passed = [...verdicts(run.output)].filter(([, v]) => v === 'pass').map(([k]) => k);
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
      const run = await runMemccapable(moxi.port, mode);
      const report = `memccapable ${mode} exited with ${run.signal ?? `code ${run.code}`}; output:\n${run.output}`;
      assert.equal(run.signal, null, `memccapable was killed (deadline ${RUN_DEADLINE_MS} ms)\n${report}`);
      const got = verdicts(run.output);
      const failed = (baseline.get(mode) ?? []).filter((t) => got.get(t) !== 'pass');
      assert.deepEqual(failed, [], `tests memcached passes that fail through moxi.ts\n${report}`);
      assert.ok(!moxi.exited(), `moxi.ts exited during memccapable:\n${moxi.output()}`);
    });
  }
});
