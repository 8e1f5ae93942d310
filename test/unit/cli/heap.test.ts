import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SEMI_SPACE_FLAG, workerExecArgv } from '../../../src/cli/heap.ts';
import { repoRoot } from '../../helpers/processes.ts';

describe('heap settings', () => {
  it('bin/moxi starts node with the 1 MB semi-space', () => {
    const first = readFileSync(`${repoRoot()}/bin/moxi`, 'latin1').split('\n')[0];
    assert.equal(first, `#!/usr/bin/env -S node ${SEMI_SPACE_FLAG}`);
  });

  it('-t N workers get the semi-space size, unless node was given one', () => {
    const saved = [...process.execArgv];
    try {
      process.execArgv.length = 0;
      process.execArgv.push('--enable-source-maps');
      assert.deepEqual(workerExecArgv(), ['--enable-source-maps', SEMI_SPACE_FLAG]);
      process.execArgv.push('--max-semi-space-size=8');
      assert.deepEqual(workerExecArgv(), ['--enable-source-maps', '--max-semi-space-size=8']);
    } finally {
      process.execArgv.length = 0;
      process.execArgv.push(...saved);
    }
  });
});
