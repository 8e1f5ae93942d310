/**
 * Replies waiting to be written to one socket, flushed with one write (or one corked batch) per batch of
 * requests. Small pieces (status lines, headers, short values) are copied into a reusable scratch area
 * and leave as one right-sized Buffer; large values are queued by reference, never copied.
 *
 * A queue holds a scratch area only while it has bytes to send: once a flush leaves the area empty and
 * the kernel holds none of its bytes, the area goes back to a process-wide stack for the next queue that
 * writes. One area per queue kept 16 KB for every idle client connection (see util/read-buffer.ts for
 * what the two changes saved together).
 */
import type { Socket } from 'node:net';

/** Pieces at least this long are queued by reference rather than copied. */
export const COPY_LIMIT = 1024;
const SCRATCH_SIZE = 16 * 1024;
/** Pieces up to this long are copied byte by byte. */
const SMALL_COPY = 64;
/** What a queue without a scratch area has instead: every append finds it full. */
const NO_SCRATCH = Buffer.alloc(0);
/** Scratch areas no queue holds, kept for reuse up to IDLE_SCRATCH_MAX (the rest are collected). */
const idleScratch: Buffer[] = [];
const IDLE_SCRATCH_MAX = 64;

/** Whether the socket still has bytes to hand to the kernel (a separate read: write() changes it). */
function holdsBytes(socket: Socket): boolean {
  return socket.writableLength > 0;
}

export class OutputQueue {
  private scratch: Buffer = NO_SCRATCH;
  private pos = 0;
  private chunks: Buffer[] = [];
  private queuedBytes = 0;
  /**
   * How many of the queued bytes are committed: released for sending. Bytes after this mark can still
   * be retracted (a server that answers only at certain points, as memcached does, loses them when it
   * closes the connection or culls pending replies).
   */
  private committed = 0;
  /** What waits for the bytes queued so far to be written (see afterWritten). */
  private written: Array<() => void> | null = null;

  /** Bytes queued and not yet handed to the socket. */
  get length(): number {
    return this.queuedBytes + this.pos;
  }

  get isEmpty(): boolean {
    return this.pos === 0 && this.chunks.length === 0;
  }

  bytes(buf: Buffer): void {
    const n = buf.length;
    if (n < COPY_LIMIT) {
      this.range(buf, 0, n);
      return;
    }
    this.sealScratch();
    this.chunks.push(buf);
    this.queuedBytes += n;
  }

  /** Appends bytes `start` to `end` of `buf`, as bytes() would append that view (without making it). */
  range(buf: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n >= COPY_LIMIT) {
      this.bytes(buf.subarray(start, end));
      return;
    }
    if (this.pos + n > this.scratch.length) this.makeRoom(n);
    if (n <= SMALL_COPY) {
      // keys and short lines: a JS loop beats Buffer#copy's native call
      const scratch = this.scratch;
      let at = this.pos;
      for (let i = start; i < end; i++) scratch[at++] = buf[i];
    } else {
      buf.copy(this.scratch, this.pos, start, end);
    }
    this.pos += n;
  }

  /** Appends a non-negative integer below 2^53 in decimal (flags, lengths), without a string. */
  decimal(value: number): void {
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    const at = this.reserve(digits);
    const scratch = this.scratch;
    for (let i = at + digits - 1; i >= at; i--) {
      scratch[i] = 0x30 + (value % 10);
      value = Math.floor(value / 10);
    }
  }

  /** Appends one byte. */
  byte(value: number): void {
    if (this.pos + 1 > this.scratch.length) this.makeRoom(1);
    this.scratch[this.pos++] = value;
  }

  /** Appends a latin1 string (protocol text: status lines, numbers, STAT lines). */
  latin1(text: string): void {
    const n = text.length;
    if (this.pos + n > this.scratch.length) {
      if (n > SCRATCH_SIZE) {
        this.sealScratch();
        const big = Buffer.from(text, 'latin1');
        this.chunks.push(big);
        this.queuedBytes += n;
        return;
      }
      this.makeRoom(n);
    }
    if (n <= SMALL_COPY) {
      // "VALUE ", "\r\n", "END\r\n": a JS loop beats Buffer#write's native call
      const scratch = this.scratch;
      let at = this.pos;
      for (let i = 0; i < n; i++) scratch[at++] = text.charCodeAt(i);
    } else {
      this.scratch.write(text, this.pos, 'latin1');
    }
    this.pos += n;
  }

  /** Reserves `n` bytes in the scratch area and returns the buffer and offset to fill them at. */
  reserve(n: number): number {
    if (this.pos + n > this.scratch.length) this.makeRoom(n);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  get scratchBuffer(): Buffer {
    return this.scratch;
  }

  /**
   * Calls `done` once every byte queued so far has been handed to the kernel: memory those bytes lie in
   * may then be reused. Never called if the write fails or the socket closes first (what `done` would
   * release is then left to the collector).
   */
  afterWritten(done: () => void): void {
    (this.written ??= []).push(done);
  }

  /** Releases everything queued so far for sending. */
  commit(): void {
    this.committed = this.length;
  }

  /** Bytes released for sending and not yet handed to the socket. */
  get committedLength(): number {
    return this.committed;
  }

  /** Drops everything queued after `mark` (an earlier `length`): retracts a reply built in part. */
  truncate(mark: number): void {
    if (mark < this.committed) mark = this.committed;
    if (mark >= this.length) return;
    this.sealScratch();
    let excess = this.queuedBytes - mark;
    while (excess > 0) {
      const last = this.chunks.pop()!;
      if (last.length <= excess) {
        excess -= last.length;
        this.queuedBytes -= last.length;
      } else {
        this.chunks.push(last.subarray(0, last.length - excess));
        this.queuedBytes -= excess;
        excess = 0;
      }
    }
  }

  /**
   * Hands the committed bytes to the socket in one syscall-sized batch (uncommitted bytes stay queued).
   * Returns false when the socket's buffer is full (the caller should stop reading until 'drain').
   */
  flush(socket: Socket): boolean {
    if (this.committed === 0) return !socket.writableNeedDrain;
    // what waits for the queued bytes rides on the last write once that write carries all of them
    let onWritten: ((err?: Error | null) => void) | undefined;
    if (this.written !== null && this.committed === this.length) {
      const waiting = this.written;
      this.written = null;
      onWritten = (err) => {
        if (err == null) for (const done of waiting) done();
      };
    }
    if (this.chunks.length === 0 && this.committed === this.pos && socket.writableLength === 0) {
      // the usual small batch, all in the scratch area, to a socket with nothing pending: written from
      // there, not copied out first. A write the kernel did not take at once keeps referring to those
      // bytes: then the area is the socket's and a new one is made (once: while the socket is backed
      // up, batches are copied out at their own size, as below).
      const ok = socket.write(this.scratch.subarray(0, this.pos), onWritten);
      this.pos = 0;
      this.committed = 0;
      if (holdsBytes(socket)) this.scratch = NO_SCRATCH;
      else this.releaseScratch();
      return ok;
    }
    this.sealScratch();
    let send: Buffer[];
    if (this.committed === this.queuedBytes) {
      send = this.chunks;
      this.chunks = [];
    } else {
      send = [];
      let need = this.committed;
      while (need > 0) {
        const chunk = this.chunks.shift()!;
        if (chunk.length <= need) {
          send.push(chunk);
          need -= chunk.length;
        } else {
          send.push(chunk.subarray(0, need));
          this.chunks.unshift(chunk.subarray(need));
          need = 0;
        }
      }
    }
    this.queuedBytes -= this.committed;
    this.committed = 0;
    this.releaseScratch();
    if (send.length === 1) return socket.write(send[0], onWritten);
    socket.cork();
    const last = send.length - 1;
    for (let i = 0; i < last; i++) socket.write(send[i]);
    const ok = socket.write(send[last], onWritten);
    socket.uncork();
    return ok;
  }

  /**
   * Room for `n` more bytes in the scratch area: what it holds is moved out first, and a queue without
   * an area (or with one too small for `n`) takes one.
   */
  private makeRoom(n: number): void {
    this.sealScratch();
    if (this.scratch.length >= n) return;
    if (n > SCRATCH_SIZE) this.scratch = Buffer.allocUnsafe(n);
    else this.scratch = idleScratch.pop() ?? Buffer.allocUnsafe(SCRATCH_SIZE);
  }

  /** Gives the (empty) scratch area back for other queues to use. */
  private releaseScratch(): void {
    const scratch = this.scratch;
    this.scratch = NO_SCRATCH;
    if (scratch.length === SCRATCH_SIZE && idleScratch.length < IDLE_SCRATCH_MAX) idleScratch.push(scratch);
  }

  /** Moves the scratch bytes into a right-sized buffer so the scratch area can be reused. */
  private sealScratch(): void {
    if (this.pos === 0) return;
    const out = Buffer.allocUnsafe(this.pos);
    this.scratch.copy(out, 0, 0, this.pos);
    this.chunks.push(out);
    this.queuedBytes += this.pos;
    this.pos = 0;
  }
}
