import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RingQueue } from '../../../src/util/ring-queue.ts';

describe('RingQueue', () => {
  it('behaves as an array-backed FIFO under any sequence of pushes and shifts', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer(), fc.constant(null)), { maxLength: 300 }), (ops) => {
        const q = new RingQueue<number>(2);
        const model: number[] = [];
        for (const op of ops) {
          if (op === null) assert.equal(q.shift(), model.shift());
          else {
            q.push(op);
            model.push(op);
          }
          assert.equal(q.length, model.length);
          assert.equal(q.peek(), model[0]);
        }
        assert.deepEqual(q.drain(), model);
      }),
    );
  });
});
