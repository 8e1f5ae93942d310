/**
 * Replies waiting to be written to one socket, flushed with one write (or one corked batch) per batch of
 * requests. Small pieces (status lines, headers, short values) are copied into a reusable scratch area
 * and leave as one right-sized Buffer; large values are queued by reference, never copied.
 */
import type { Socket } from 'node:net';

/** Pieces at least this long are queued by reference rather than copied. */
const COPY_LIMIT = 1024;
const SCRATCH_SIZE = 16 * 1024;

export class OutputQueue {
  private scratch = Buffer.allocUnsafe(SCRATCH_SIZE);
  private pos = 0;
  private chunks: Buffer[] = [];
  private queuedBytes = 0;

  /** Bytes queued and not yet handed to the socket. */
  get length(): number {
    return this.queuedBytes + this.pos;
  }

  get isEmpty(): boolean {
    return this.pos === 0 && this.chunks.length === 0;
  }

  bytes(buf: Buffer): void {
    const n = buf.length;
    if (n >= COPY_LIMIT) {
      this.sealScratch();
      this.chunks.push(buf);
      this.queuedBytes += n;
      return;
    }
    if (this.pos + n > this.scratch.length) this.sealScratch();
    buf.copy(this.scratch, this.pos);
    this.pos += n;
  }

  /** Appends a latin1 string (protocol text: status lines, numbers, STAT lines). */
  latin1(text: string): void {
    const n = text.length;
    if (this.pos + n > this.scratch.length) {
      this.sealScratch();
      if (n > this.scratch.length) {
        const big = Buffer.from(text, 'latin1');
        this.chunks.push(big);
        this.queuedBytes += n;
        return;
      }
    }
    this.scratch.write(text, this.pos, 'latin1');
    this.pos += n;
  }

  /** Reserves `n` bytes in the scratch area and returns the buffer and offset to fill them at. */
  reserve(n: number): number {
    if (this.pos + n > this.scratch.length) {
      this.sealScratch();
      if (n > this.scratch.length) this.scratch = Buffer.allocUnsafe(n);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  get scratchBuffer(): Buffer {
    return this.scratch;
  }

  /** Drops everything queued after `mark` (an earlier `length`): retracts a reply built in part. */
  truncate(mark: number): void {
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
   * Hands everything to the socket in one syscall-sized batch. Returns false when the socket's buffer is
   * full (the caller should stop reading until 'drain').
   */
  flush(socket: Socket): boolean {
    this.sealScratch();
    const chunks = this.chunks;
    if (chunks.length === 0) return !socket.writableNeedDrain;
    this.chunks = [];
    this.queuedBytes = 0;
    let ok = true;
    if (chunks.length === 1) {
      ok = socket.write(chunks[0]);
    } else {
      socket.cork();
      for (const chunk of chunks) ok = socket.write(chunk);
      socket.uncork();
    }
    return ok;
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
