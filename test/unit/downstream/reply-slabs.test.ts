/**
 * A large value read into the proxy's reply slabs is written to one client, or (identical gets answered
 * by one fetch) to several: its slabs may go back to the pool only after the last of those writes, or
 * the next value read would overwrite bytes a client's reply still waits to send.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import {
  releaseSlabsWhenWritten,
  replySlabs,
  shareSlabs,
  writeFromSlabs,
} from '../../../src/downstream/connection.ts';
import { OutputQueue } from '../../../src/util/output-queue.ts';

/** A socket stand-in whose writes complete when the test calls their callbacks. */
class HeldSocket {
  writableLength = 0;
  writableNeedDrain = false;
  readonly callbacks: ((err?: Error | null) => void)[] = [];
  write(_b: Buffer, cb?: (err?: Error | null) => void): boolean {
    if (cb !== undefined) this.callbacks.push(cb);
    return true;
  }
  cork(): void {}
  uncork(): void {}
}

/** A value of `slabs` full slabs lent by the pool, as a reply's valueParts. */
function lentValue(slabs: number): Buffer[] {
  return Array.from({ length: slabs }, () => replySlabs.lend());
}

/**
 * Queues `pieces` as one client's reply (`copies` times, as for "get k k") and hands it to a socket;
 * returns what completes the write.
 */
function queueReply(pieces: readonly Buffer[], copies = 1): (err?: Error | null) => void {
  const out = new OutputQueue();
  const socket = new HeldSocket();
  if (copies === 1) {
    out.latin1('VALUE k 0 1\r\n');
    writeFromSlabs(out, pieces);
    out.latin1('\r\nEND\r\n');
  } else {
    for (let i = 0; i < copies; i++) {
      out.latin1('VALUE k 0 1\r\n');
      for (const piece of pieces) out.bytes(piece);
      out.latin1('\r\n');
    }
    out.latin1('END\r\n');
    releaseSlabsWhenWritten(out, pieces);
  }
  out.commit();
  out.flush(socket as unknown as Socket);
  assert.equal(socket.callbacks.length, 1);
  return socket.callbacks[0];
}

/** Whether the pool would lend any of `pieces`' slabs now. */
function inPool(pieces: readonly Buffer[]): boolean {
  const free = Array.from({ length: replySlabs.freeCount }, () => replySlabs.lend());
  replySlabs.giveBack(free);
  return free.some((slab) => pieces.some((p) => p.buffer === slab.buffer));
}

describe('reply slabs written to one client or several', () => {
  it("go back to the pool once the only client's reply is written", () => {
    const value = lentValue(3);
    const written = queueReply(value);
    assert.equal(inPool(value), false, 'not while the write is pending');
    written(null);
    assert.equal(inPool(value), true);
  });

  it('shared by joined gets: go back only after the last reply is written, in any order', () => {
    for (const order of [
      [0, 1, 2],
      [2, 0, 1],
      [1, 2, 0],
    ]) {
      const value = lentValue(2);
      // the fetching get and two that joined it
      shareSlabs(value);
      shareSlabs(value);
      const writes = [queueReply(value), queueReply(value), queueReply(value)];
      writes[order[0]](null);
      writes[order[1]](null);
      assert.equal(inPool(value), false, `order ${order.join(',')}: a reply still waits to be written`);
      writes[order[2]](null);
      assert.equal(inPool(value), true, `order ${order.join(',')}`);
    }
  });

  it('shared with a reply that carries the value twice: released once by that reply', () => {
    const value = lentValue(2);
    shareSlabs(value);
    const twice = queueReply(value, 2);
    const once = queueReply(value);
    twice(null);
    assert.equal(inPool(value), false, 'the other reply still waits to be written');
    once(null);
    assert.equal(inPool(value), true);
  });

  it('stay out of the pool while a joined reply is never written (its client left)', () => {
    const value = lentValue(2);
    shareSlabs(value);
    const first = queueReply(value);
    const second = queueReply(value);
    first(null);
    second(new Error('EPIPE'));
    assert.equal(inPool(value), false);
  });
});
