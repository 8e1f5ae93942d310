/**
 * libmemcached's conformance tool against the target: `memccapable -a` (27 text protocol tests) and
 * `memccapable -b` (27 binary protocol tests) must all pass. Each run is bounded (memccapable's own
 * per-I/O timeout -t, plus a hard deadline after which the tool is killed).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { startTarget, targetKind, type ServerHandle } from '../helpers/processes.ts';

const MEMCCAPABLE =
  process.env['MEMCCAPABLE_BIN'] ??
  (existsSync('/usr/bin/memccapable') ? '/usr/bin/memccapable' : 'memccapable');
const IO_TIMEOUT_S = 5;
const RUN_DEADLINE_MS = 60_000;

const ASCII_TESTS = [
  'version',
  'quit',
  'verbosity',
  'set',
  'set noreply',
  'get',
  'gets',
  'mget',
  'flush',
  'flush noreply',
  'add',
  'add noreply',
  'replace',
  'replace noreply',
  'cas',
  'cas noreply',
  'delete',
  'delete noreply',
  'incr',
  'incr noreply',
  'decr',
  'decr noreply',
  'append',
  'append noreply',
  'prepend',
  'prepend noreply',
  'stat',
].map((t) => `ascii ${t}`);

const BINARY_TESTS = [
  'noop',
  'quit',
  'quitq',
  'set',
  'setq',
  'flush',
  'flushq',
  'add',
  'addq',
  'replace',
  'replaceq',
  'delete',
  'deleteq',
  'get',
  'getq',
  'getk',
  'getkq',
  'incr',
  'incrq',
  'decr',
  'decrq',
  'version',
  'append',
  'appendq',
  'prepend',
  'prependq',
  'stat',
].map((t) => `binary ${t}`);

interface Run {
  readonly code: number | null;
  readonly signal: string | null;
  readonly output: string;
}

function runMemccapable(server: ServerHandle, mode: '-a' | '-b'): Promise<Run> {
  const args = ['-h', server.host, '-p', String(server.port), mode, '-t', String(IO_TIMEOUT_S)];
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

/** Per-test verdicts from lines like "ascii set noreply                       [pass]". */
function verdicts(output: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of output.split('\n')) {
    const match = /^((?:ascii|binary) [\w ]+?)\s+\[(\w+)\]\s*$/.exec(line.trim());
    if (match) m.set(match[1], match[2]);
  }
  return m;
}

describe(`memccapable against ${targetKind()}`, () => {
  let server: ServerHandle;
  before(async () => {
    server = await startTarget({ memoryMb: 64 });
  });
  after(async () => {
    await server.stop();
  });

  for (const [mode, label, expected] of [
    ['-a', 'ascii', ASCII_TESTS],
    ['-b', 'binary', BINARY_TESTS],
  ] as const) {
    it(`passes all ${expected.length} ${label} tests`, async () => {
      const run = await runMemccapable(server, mode);
      const report = `memccapable ${mode} exited with ${run.signal ?? `code ${run.code}`}; output:\n${run.output}`;
      assert.equal(run.signal, null, `memccapable was killed (deadline ${RUN_DEADLINE_MS} ms?)\n${report}`);
      const v = verdicts(run.output);
      const failed = expected.filter((t) => v.get(t) !== 'pass');
      assert.deepEqual(
        failed,
        [],
        `tests not passed: ${failed.map((t) => `${t} [${v.get(t) ?? 'missing'}]`).join(', ')}\n${report}`,
      );
      assert.equal(v.size, expected.length, `unexpected test lines\n${report}`);
      assert.match(run.output, /All tests passed/, report);
      assert.equal(run.code, 0, report);
      assert.ok(!server.exited(), `the server exited during memccapable:\n${server.output()}`);
    });
  }
});
