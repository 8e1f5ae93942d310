/**
 * libmemcached's conformance tool against the target, and with bin/moxi also through moxi.ts as a
 * proxy over two memcacheds: `memccapable -a` (27 text protocol tests) and `memccapable -b` (27
 * binary protocol tests) must all pass. Each run is bounded (memccapable's own
 * per-I/O timeout -t, plus a hard deadline after which the tool is killed).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { memccapableVerdicts, runMemccapable } from '../helpers/memccapable.ts';
import { clientTargets, startedForSuite } from '../helpers/proxy.ts';

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

for (const target of clientTargets({ memoryMb: 64 })) {
  describe(`memccapable against ${target.name}`, () => {
    const server = startedForSuite(target);

    for (const [mode, label, expected] of [
      ['-a', 'ascii', ASCII_TESTS],
      ['-b', 'binary', BINARY_TESTS],
    ] as const) {
      it(`passes all ${expected.length} ${label} tests`, async () => {
        const run = await runMemccapable({
          host: server().host,
          port: server().port,
          mode,
          verbose: false,
          ioTimeoutS: IO_TIMEOUT_S,
          deadlineMs: RUN_DEADLINE_MS,
        });
        const report = `memccapable ${mode} exited with ${run.signal ?? `code ${run.code}`}; output:\n${run.output}`;
        assert.equal(run.signal, null, `memccapable was killed (deadline ${RUN_DEADLINE_MS} ms?)\n${report}`);
        const v = memccapableVerdicts(run.output);
        const failed = expected.filter((t) => v.get(t) !== 'pass');
        assert.deepEqual(
          failed,
          [],
          `tests not passed: ${failed.map((t) => `${t} [${v.get(t) ?? 'missing'}]`).join(', ')}\n${report}`,
        );
        assert.equal(v.size, expected.length, `unexpected test lines\n${report}`);
        assert.match(run.output, /All tests passed/, report);
        assert.equal(run.code, 0, report);
        assert.ok(!server().exited(), `the server exited during memccapable:\n${server().output()}`);
      });
    }
  });
}
