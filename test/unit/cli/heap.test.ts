import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { NODE_FLAGS, OLD_SPACE_FLAG, workerExecArgv } from '../../../src/cli/heap.ts';
import { repoRoot } from '../../helpers/processes.ts';

describe('heap settings', () => {
  it('bin/moxi starts node with the heap sizes', () => {
    const first = readFileSync(`${repoRoot()}/bin/moxi`, 'latin1').split('\n')[0];
    assert.equal(first, `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
  });

  it('-t N workers get the old space size, unless node was given one', () => {
    const saved = [...process.execArgv];
    try {
      process.execArgv.length = 0;
      process.execArgv.push('--enable-source-maps');
      assert.deepEqual(workerExecArgv(), ['--enable-source-maps', OLD_SPACE_FLAG]);
      process.execArgv.push('--initial-old-space-size=32');
      assert.deepEqual(workerExecArgv(), ['--enable-source-maps', '--initial-old-space-size=32']);
    } finally {
      process.execArgv.length = 0;
      process.execArgv.push(...saved);
    }
  });
});
