import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { OutputQueue } from '../../../src/util/output-queue.ts';

/**
 * A socket stand-in: a write it takes at once is copied (the kernel has the bytes); while it is backed up
 * it keeps the buffers themselves, as a real socket does until the kernel takes them.
 */
class HeldSocket {
  readonly held: Buffer[] = [];
  /** The buffers last handed over, as given. */
  readonly given: Buffer[] = [];
  /** Bytes "not yet taken by the kernel": what writableLength reports. */
  writableLength = 0;
  writableNeedDrain = false;
  backedUp = false;
  /** Callbacks of writes, called when the test says the kernel took the bytes. */
  readonly callbacks: ((err?: Error | null) => void)[] = [];
  write(b: Buffer, cb?: (err?: Error | null) => void): boolean {
    this.given.push(b);
    if (cb !== undefined) this.callbacks.push(cb);
    if (!this.backedUp) {
      this.held.push(Buffer.from(b));
      return true;
    }
    this.held.push(b);
    this.writableLength += b.length;
    return false;
  }
  cork(): void {}
  uncork(): void {}
  get text(): string {
    return Buffer.concat(this.held).toString('latin1');
  }
}

function flush(out: OutputQueue, socket: HeldSocket): boolean {
  out.commit();
  return out.flush(socket as unknown as Socket);
}

describe('OutputQueue', () => {
  it('writes small pieces, numbers and bytes in order', () => {
    const out = new OutputQueue();
    const socket = new HeldSocket();
    out.latin1('VALUE ');
    out.bytes(Buffer.from('key'));
    out.byte(0x20);
    out.decimal(0);
    out.byte(0x20);
    out.decimal(4294967295);
    out.latin1('\r\n');
    out.bytes(Buffer.alloc(2000, 0x61));
    out.latin1('\r\nEND\r\n');
    flush(out, socket);
    assert.equal(socket.text, `VALUE key 0 4294967295\r\n${'a'.repeat(2000)}\r\nEND\r\n`);
    assert.equal(out.isEmpty, true);
  });

  it('appends ranges of a buffer as the views of those ranges would be', () => {
    const out = new OutputQueue();
    const socket = new HeldSocket();
    const source = Buffer.from(Array.from({ length: 5000 }, (_, i) => 0x41 + (i % 26)));
    const ranges: [number, number][] = [
      [0, 0],
      [3, 10],
      [100, 900],
      [1000, 4500],
      [4999, 5000],
    ];
    for (const [start, end] of ranges) out.range(source, start, end);
    flush(out, socket);
    assert.equal(socket.text, ranges.map(([start, end]) => source.toString('latin1', start, end)).join(''));
  });

  it('never overwrites bytes a backed-up socket still holds', () => {
    const out = new OutputQueue();
    const socket = new HeldSocket();
    socket.backedUp = true;
    for (let i = 0; i < 50; i++) {
      out.latin1(`reply ${i}\r\n`);
      flush(out, socket);
    }
    assert.equal(socket.text, Array.from({ length: 50 }, (_, i) => `reply ${i}\r\n`).join(''));
  });

  it('reuses its scratch area only for writes the socket took at once', () => {
    const out = new OutputQueue();
    const socket = new HeldSocket();
    out.latin1('first\r\n');
    flush(out, socket);
    out.latin1('second\r\n');
    flush(out, socket);
    assert.equal(socket.text, 'first\r\nsecond\r\n');
    assert.equal(socket.given[0].buffer, socket.given[1].buffer, 'the same scratch area, written in place');
    // now a write that stays pending: the next batch must go elsewhere
    socket.backedUp = true;
    out.latin1('third\r\n');
    flush(out, socket);
    out.latin1('fourth\r\n');
    flush(out, socket);
    assert.equal(socket.text, 'first\r\nsecond\r\nthird\r\nfourth\r\n');
  });

  it('holds a scratch area only while it has bytes to send: an idle queue passes it on', () => {
    const a = new OutputQueue();
    const b = new OutputQueue();
    const socketA = new HeldSocket();
    const socketB = new HeldSocket();
    a.latin1('from a\r\n');
    flush(a, socketA);
    b.latin1('from b\r\n');
    flush(b, socketB);
    assert.equal(socketA.given[0].buffer, socketB.given[0].buffer, 'the area a gave back, used by b');
    assert.equal(socketA.text, 'from a\r\n');
    assert.equal(socketB.text, 'from b\r\n');
  });

  it('never passes on an area whose bytes a backed-up socket still holds', () => {
    const queues = Array.from({ length: 8 }, () => new OutputQueue());
    const sockets = queues.map(() => new HeldSocket());
    // every other socket backs up: its queue's bytes stay in the area handed over
    sockets.forEach((socket, i) => (socket.backedUp = i % 2 === 0));
    for (let round = 0; round < 20; round++) {
      queues.forEach((out, i) => {
        out.latin1(`q${i} r${round} `);
        out.range(Buffer.alloc(700, 0x61 + i), 0, 10 + round * 30);
        out.latin1('\r\n');
        flush(out, sockets[i]);
      });
    }
    sockets.forEach((socket, i) => {
      const expected = Array.from(
        { length: 20 },
        (_, round) => `q${i} r${round} ${String.fromCharCode(0x61 + i).repeat(10 + round * 30)}\r\n`,
      ).join('');
      assert.equal(socket.text, expected, `socket ${i}`);
    });
  });

  it('keeps bytes queued but not committed across a flush, in an area of its own', () => {
    const a = new OutputQueue();
    const b = new OutputQueue();
    const socketA = new HeldSocket();
    const socketB = new HeldSocket();
    a.latin1('sent\r\n');
    a.commit();
    a.latin1('held');
    a.flush(socketA as unknown as Socket);
    b.latin1('other\r\n');
    flush(b, socketB);
    a.latin1(' back\r\n');
    flush(a, socketA);
    assert.equal(socketA.text, 'sent\r\nheld back\r\n');
    assert.equal(socketB.text, 'other\r\n');
  });

  describe('afterWritten', () => {
    it('calls back once the write carrying the bytes queued before it is done, in one batch or several', () => {
      for (const pieces of [1, 3]) {
        const out = new OutputQueue();
        const socket = new HeldSocket();
        let calls = 0;
        out.latin1('VALUE k 0 6000\r\n');
        for (let i = 0; i < pieces; i++) out.bytes(Buffer.alloc(2000, 0x61));
        out.afterWritten(() => calls++);
        out.latin1('\r\nEND\r\n');
        flush(out, socket);
        assert.equal(calls, 0, 'not before the socket says the bytes are written');
        assert.equal(socket.callbacks.length, 1, 'one callback, on the last write of the batch');
        assert.equal(socket.given.at(-1)!.toString('latin1').endsWith('END\r\n'), true);
        socket.callbacks[0](null);
        assert.equal(calls, 1);
      }
    });

    it('never calls back after a failed write', () => {
      const out = new OutputQueue();
      const socket = new HeldSocket();
      let calls = 0;
      out.bytes(Buffer.alloc(5000));
      out.afterWritten(() => calls++);
      flush(out, socket);
      socket.callbacks[0](new Error('EPIPE'));
      assert.equal(calls, 0);
    });

    it('waits for a write that carries every byte queued, not one that leaves some behind', () => {
      const out = new OutputQueue();
      const socket = new HeldSocket();
      let calls = 0;
      out.bytes(Buffer.alloc(5000));
      out.afterWritten(() => calls++);
      out.commit();
      out.latin1('not yet released');
      out.flush(socket as unknown as Socket);
      assert.equal(socket.callbacks.length, 0);
      flush(out, socket);
      assert.equal(socket.callbacks.length, 1);
      socket.callbacks[0]();
      assert.equal(calls, 1);
      assert.equal(socket.text, '\0'.repeat(5000) + 'not yet released');
    });
  });
});
